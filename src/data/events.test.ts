import { describe, expect, it } from 'vitest';
import { QueryEvent } from '../shared/events.js';
import { EventReader, EventWriter, RING_BYTES, eventRing } from './events.js';

/** Everything an observer keeps of an event, as plain data. */
const seen = (e: QueryEvent) => ({
  time: e.time, latencyMs: e.latencyMs, qtype: e.qtype, verdict: e.verdict, cached: e.cached, transport: e.transport, rcode: e.rcode,
  client: e.client, group: e.group, list: e.list, upstream: e.upstream, question: Buffer.from(e.msg.subarray(0, e.questionEnd)).toString('hex'), worker: e.worker,
});

function event(i: number): QueryEvent {
  const e = new QueryEvent();
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
  // Names up to the longest a question can hold, so records of every size meet the ring's end.
  const label = 'x'.repeat(1 + (i % 63));
  e.msg = Buffer.concat([Buffer.alloc(12, i & 255), Buffer.from(`${String.fromCharCode(label.length)}${label}\x07example\x00\x00\x01\x00\x01`, 'latin1')]);
  e.questionEnd = e.msg.length;
  return e;
}

describe('query events from a worker', () => {
  it('arrive whole and in order through the ring, across wraps and string-table resets (60,000 events, 60,000 clients)', () => {
    const ring = eventRing();
    const writer = new EventWriter(ring);
    const got: ReturnType<typeof seen>[] = [];
    const reader = new EventReader(ring, 3, [{ observe: (x) => got.push(seen(x)) }]);
    const sent: ReturnType<typeof seen>[] = [];
    for (let i = 0; i < 60_000; i++) {
      const e = event(i);
      writer.observe(e);
      sent.push({ ...seen(e), worker: 3 });
      // Drained now and then, as the control thread's timer does: the writer laps the ring many times.
      if (i % 997 === 0) reader.drain();
    }
    reader.drain();
    expect(got.length).toBe(sent.length);
    expect(got).toEqual(sent);
    expect(reader.dropped).toBe(0);
  });

  it('drops and counts what does not fit while the reader is behind, and carries on once it catches up', () => {
    const ring = eventRing();
    const writer = new EventWriter(ring);
    let read = 0;
    const reader = new EventReader(ring, 0, [{ observe: () => void read++ }]);
    const perEvent = 32 + 12 + 4 + 20; // about, for a short name
    const offered = Math.ceil(RING_BYTES / perEvent) * 2;
    for (let i = 0; i < offered; i++) writer.observe(event(i % 8));
    expect(reader.dropped).toBeGreaterThan(0);
    expect(reader.drain() + reader.dropped).toBe(offered);
    for (let i = 0; i < 100; i++) writer.observe(event(i));
    expect(reader.drain()).toBe(100);
    expect(read + reader.dropped).toBe(offered + 100);
  });
});
