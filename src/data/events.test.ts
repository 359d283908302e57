import { describe, expect, it } from 'vitest';
import { QueryEvent } from '../shared/events.js';
import { EventPacker, EventUnpacker } from './events.js';

/** Everything an observer keeps of an event, as plain data. */
const seen = (e: QueryEvent) => ({
  time: e.time, latencyMs: e.latencyMs, qtype: e.qtype, verdict: e.verdict, cached: e.cached, transport: e.transport, rcode: e.rcode,
  client: e.client, group: e.group, list: e.list, upstream: e.upstream, question: Buffer.from(e.msg.subarray(0, e.questionEnd)).toString('hex'), worker: e.worker,
});

describe('query events from a worker', () => {
  it('arrive whole and in order, across batches and string-table resets (20,000 distinct clients)', () => {
    const batches: ArrayBuffer[] = [];
    const packer = new EventPacker((b) => batches.push(b));
    const sent: ReturnType<typeof seen>[] = [];
    const e = new QueryEvent();
    for (let i = 0; i < 20_000; i++) {
      e.time = 1_800_000_000_000 + i;
      e.latencyMs = i / 7;
      e.qtype = i % 3 === 0 ? 65 : 1;
      e.verdict = (['allowed', 'blocked', 'refused', 'invalid'] as const)[i % 4];
      e.cached = i % 5 === 0;
      e.transport = (['udp', 'tcp', 'dot', 'doh'] as const)[i % 4];
      e.rcode = i % 6;
      e.client = `2001:db8::${i.toString(16)}`;
      e.group = i % 2 ? 'default' : 'büro';
      e.list = i % 2 ? '' : 'service:deepseek';
      e.upstream = i % 3 ? '' : '9.9.9.9:53';
      e.msg = Buffer.concat([Buffer.alloc(12, i & 255), Buffer.from(`\x03w${String(i % 100).padStart(2, '0')}\x07example\x00\x00\x01\x00\x01`, 'latin1')]);
      e.questionEnd = e.msg.length;
      packer.observe(e);
      sent.push({ ...seen(e), worker: 3 });
    }
    packer.flush();
    expect(batches.length).toBeGreaterThan(10);
    const got: ReturnType<typeof seen>[] = [];
    const unpacker = new EventUnpacker(3, [{ observe: (x) => got.push(seen(x)) }]);
    for (const b of batches) unpacker.unpack(b);
    expect(got).toEqual(sent);
  });
});
