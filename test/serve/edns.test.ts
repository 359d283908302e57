// EDNS as RFC 6891 and RFC 8906 want it, on every path (forwarded, cached,
// blocked, errors, TC), in front of an upstream that sends no OPT at all
// and one that sends its own options: aifence answers every EDNS client
// with its own OPT (version 0, DO echoed, nothing unknown echoed), answers
// BADVERS to versions above 0, and never passes a client's EDNS options on.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TYPES, decode, encodeQuery, exchange } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { RawUpstream, aRecord, findOpt, optRecord, reply, txtRecord } from '../support/raw-upstream.js';

let upstream: RawUpstream;
let d: TestDaemon;

beforeAll(async () => {
  upstream = await RawUpstream.start();
  d = await startDaemon('lists:\n  local: { source: blocked.txt }\n', [upstream.address], { files: { 'blocked.txt': 'blocked.test\n' } });
});
afterAll(async () => {
  await d.stop();
  await upstream.close();
});

interface Edns {
  version?: number;
  flags?: number;
  dnssecOk?: boolean;
  options?: [number, Buffer][];
  udpSize?: number;
}

/** A query with an OPT record written by hand, so tests choose version, flags and options. */
function ednsQuery(name: string, type: number, edns: Edns): Buffer {
  const base = encodeQuery(name, type, { id: 0x1234 });
  base.writeUInt16BE(1, 10);
  const opt = optRecord(edns.options ?? [], edns.udpSize ?? 1232, (edns.flags ?? 0) | (edns.dnssecOk ? 0x8000 : 0));
  opt[6] = edns.version ?? 0;
  return Buffer.concat([base, opt]);
}

interface OptView {
  version: number;
  extendedRcode: number;
  flags: number;
  udpSize: number;
  options: number[];
}

function optOf(msg: Buffer): OptView | null {
  const at = findOpt(msg);
  if (at < 0) return null;
  const options: number[] = [];
  const end = at + 11 + msg.readUInt16BE(at + 9);
  for (let o = at + 11; o + 4 <= end; o += 4 + msg.readUInt16BE(o + 2)) options.push(msg.readUInt16BE(o));
  return { udpSize: msg.readUInt16BE(at + 3), extendedRcode: msg[at + 5], version: msg[at + 6], flags: msg.readUInt16BE(at + 7), options };
}

const ask = async (msg: Buffer, tcp = false) => exchange(d.port, msg, { tcp, timeoutMs: 6000 }); // generous: CI machines are busy
const rcodeOf = (msg: Buffer) => ((optOf(msg)?.extendedRcode ?? 0) << 4) | (msg[3] & 0x0f);
const BADVERS = 16;

describe('EDNS on every path, in front of an upstream without OPT', () => {
  it('a forwarded answer to an EDNS client carries aifence’s OPT, version 0, DO echoed, though the upstream sent none', async () => {
    upstream.respond = (q) => reply(q, { answers: [aRecord('192.0.2.7')] });
    const out = await ask(ednsQuery('fwd-edns.example', TYPES.A, { dnssecOk: true }));
    expect(out[3] & 0x0f).toBe(0);
    expect(optOf(out)).toEqual({ udpSize: 1232, extendedRcode: 0, version: 0, flags: 0x8000, options: [] });
    const cached = await ask(ednsQuery('fwd-edns.example', TYPES.A, { dnssecOk: true }));
    expect(optOf(cached)?.flags).toBe(0x8000);
    const plain = await ask(encodeQuery('fwd-edns.example', TYPES.A));
    expect(optOf(plain)).toBeNull();
  });

  it('DO is echoed only when asked, on cache hits and block answers too', async () => {
    const noDo = await ask(ednsQuery('fwd-edns.example', TYPES.A, {}));
    expect(optOf(noDo)?.flags).toBe(0);
    const blocked = await ask(ednsQuery('blocked.test', TYPES.A, { dnssecOk: true }));
    expect(blocked[3] & 0x0f).toBe(3);
    expect(optOf(blocked)?.flags).toBe(0x8000);
    expect(optOf(blocked)?.version).toBe(0);
  });

  it('BADVERS with OPT version 0 for EDNS version 1 on every path: forwarded, cached and blocked names alike, never forwarded', async () => {
    const before = upstream.queries.length;
    for (const name of ['fresh-v1.example', 'fwd-edns.example', 'blocked.test']) {
      for (const tcp of [false, true]) {
        const out = await ask(ednsQuery(name, TYPES.A, { version: 1 }), tcp);
        expect(rcodeOf(out), name).toBe(BADVERS);
        expect(optOf(out)?.version, name).toBe(0);
        expect(out.readUInt16BE(6), name).toBe(0);
      }
    }
    // With an unknown option as well (ednscomp's edns1opt).
    expect(rcodeOf(await ask(ednsQuery('fresh-v1.example', TYPES.A, { version: 1, options: [[100, Buffer.alloc(0)]] })))).toBe(BADVERS);
    expect(upstream.queries.length).toBe(before);
  });

  it('unknown options and flags are ignored and not echoed', async () => {
    const withOption = await ask(ednsQuery('opt100.example', TYPES.A, { options: [[100, Buffer.from('x')]] }));
    expect(withOption[3] & 0x0f).toBe(0);
    expect(optOf(withOption)?.options).toEqual([]);
    const withFlag = await ask(ednsQuery('flag80.example', TYPES.A, { flags: 0x0080 }));
    expect(withFlag[3] & 0x0f).toBe(0);
    expect(optOf(withFlag)?.flags).toBe(0);
  });

  it('SERVFAIL and TC answers carry aifence’s OPT for EDNS clients', async () => {
    upstream.respond = (q) => (q.subarray(12).toString('latin1').toLowerCase().includes('big') ? reply(q, { answers: [txtRecord(3000)] }) : null);
    const tc = await ask(ednsQuery('big.example', TYPES.TXT, { udpSize: 4096, dnssecOk: true }));
    expect(tc[2] & 0x02).toBe(2);
    expect(optOf(tc)?.flags).toBe(0x8000);
    const servfail = await ask(ednsQuery('silent.example', TYPES.A, {}));
    expect(servfail[3] & 0x0f).toBe(2);
    expect(optOf(servfail)?.version).toBe(0);
    upstream.respond = (q) => reply(q, { answers: [aRecord('192.0.2.1')] });
  });
});

describe('EDNS hygiene towards the upstream', () => {
  it('sends aifence’s own OPT (1232, DO as asked) and never the client’s ECS, COOKIE or other options', async () => {
    const ecs = Buffer.from([0, 1, 24, 0, 10, 20, 30]); // family 1, /24, 10.20.30.0
    const cookie = Buffer.alloc(8, 0xab);
    const before = upstream.queries.length;
    await ask(ednsQuery('hygiene.example', TYPES.A, { dnssecOk: true, udpSize: 4096, options: [[8, ecs], [10, cookie], [3, Buffer.alloc(0)]] }));
    const sent = upstream.queries.slice(before);
    expect(sent).toHaveLength(1);
    expect(optOf(sent[0])).toEqual({ udpSize: 1232, extendedRcode: 0, version: 0, flags: 0x8000, options: [] });
    expect(sent[0].includes(Buffer.from([10, 20, 30]))).toBe(false);
  });

  it('the upstream’s OPT and its options (NSID, padding) are not relayed; EDNS and plain clients share one cache entry', async () => {
    upstream.respond = (q) => reply(q, { answers: [aRecord('192.0.2.9')], additional: [optRecord([[3, Buffer.from('upstream-nsid')], [12, Buffer.alloc(20)]], 4096)] });
    const before = upstream.queries.length;
    const edns = await ask(ednsQuery('nsid.example', TYPES.A, {}));
    expect(optOf(edns)).toEqual({ udpSize: 1232, extendedRcode: 0, version: 0, flags: 0, options: [] });
    const plain = await ask(encodeQuery('nsid.example', TYPES.A));
    expect(optOf(plain)).toBeNull();
    expect(decode(plain).packet.answers).toHaveLength(1);
    expect(upstream.queries.length - before).toBe(1);
    upstream.respond = (q) => reply(q, { answers: [aRecord('192.0.2.1')] });
  });
});
