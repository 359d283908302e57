// A worker thread that stores and looks up names in a shared answer cache as
// fast as it can, and checks that every hit's answer is the one stored for
// its name (the address encodes the name's number). Used by the shared-cache test.

import { parentPort, workerData } from 'node:worker_threads';
import { AnswerCache, cacheKey } from '../../src/data/resolve/cache.js';
import type { CacheMemory } from '../../src/shared/plane-memory.js';
import type { Matcher } from '../../src/match/types.js';
import { ParseResult, Query, parseQuery } from '../../src/wire/message.js';
import { readReplyShape } from '../../src/wire/records.js';
import { TYPES, encodeQuery } from './client.js';
import { aRecord, questionLength, reply, txtRecord } from './raw-upstream.js';

const { memory, owner, names, rounds } = workerData as { memory: CacheMemory; owner: number; names: number; rounds: number };
const cache = AnswerCache.attach(memory, owner);
const matcher = { matchWire: () => 0 } as unknown as Matcher;
const asked = Array.from({ length: names }, (_, i) => {
  const query = encodeQuery(`n${i}.example`, TYPES.A);
  const q = new Query();
  if (parseQuery(query, q) !== ParseResult.Ok) throw new Error('bad query');
  // Sizes vary (a TXT record for some) so records wrap the ring at odd places.
  const answers = [aRecord(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 300), ...(i % 7 === 0 ? [txtRecord(200 + (i % 300))] : [])];
  const msg = reply(query, { answers });
  return { query, q, key: cacheKey(query, q), msg, shape: readReplyShape(msg, 12 + questionLength(query))! };
});
let hits = 0;
let wrong = 0;
let seed = owner * 7919;
for (let r = 0; r < rounds; r++) {
  seed = (seed * 1103515245 + 12345) >>> 0;
  const i = seed % names;
  const a = asked[i];
  const entry = cache.lookup(a.key, matcher, 1);
  if (entry === undefined) {
    cache.store(a.key, a.msg, a.shape, new Int32Array(0), matcher, 1);
    continue;
  }
  hits++;
  const out = cache.answer(entry, a.query, a.q);
  // The A record's address is right after its 10-byte fixed part; it is the first answer.
  const at = 12 + questionLength(a.query) + 12;
  const address = (out[at + 1] << 16) | (out[at + 2] << 8) | out[at + 3]; // 10.x.y.z: x.y.z
  if (address !== (((i >> 16) & 255) << 16 | ((i >> 8) & 255) << 8 | (i & 255))) wrong++;
}
parentPort!.postMessage({ hits, wrong });
