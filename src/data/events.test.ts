import { describe, expect, it } from 'vitest';
import { QueryEvent } from '../shared/events.js';
import { EventReader, EventWriter, MAX_STRINGS, RING_BYTES, eventRing } from './events.js';

/** Everything an observer keeps of an event, as plain data. */
const seen = (e: QueryEvent) => ({
  time: e.time, latencyMs: e.latencyMs, qtype: e.qtype, verdict: e.verdict, cached: e.cached, transport: e.transport, rcode: e.rcode,
  client: e.client, group: e.group, list: e.list, upstream: e.upstream, exception: e.exception, device: e.device, question: Buffer.from(e.msg.subarray(0, e.questionEnd)).toString('hex'), worker: e.worker,
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
  e.device = i % 3 === 1 ? `phone-${i % 97}` : '';
  e.exception = i % 4 === 0 ? `exception ${(i % 50).toString(16).padStart(12, '0')} (alice: ticket ${i % 50})` : '';
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
    const reader = new EventReader(ring, 3, { observerName: 'test', observe: (x) => void got.push(seen(x)) });
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
    const reader = new EventReader(ring, 0, { observerName: 'test', observe: () => void read++ });
    const perEvent = 32 + 12 + 4 + 20; // about, for a short name
    const offered = Math.ceil(RING_BYTES / perEvent) * 2;
    for (let i = 0; i < offered; i++) writer.observe(event(i % 8));
    expect(reader.dropped).toBeGreaterThan(0);
    expect(reader.drain() + reader.dropped).toBe(offered);
    for (let i = 0; i < 100; i++) writer.observe(event(i));
    expect(reader.drain()).toBe(100);
    expect(read + reader.dropped).toBe(offered + 100);
  });

  it('never splits an event across a string-table reset: fuzzed with tables of 4 to 12 strings, every field reads back as written', () => {
    // A small PRNG with a fixed seed: a failure names the seed and repeats.
    for (let seed = 1; seed <= 40; seed++) {
      let x = seed * 2654435761;
      const rand = (n: number) => {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        return (x >>> 0) % n;
      };
      const ring = eventRing();
      const table = 4 + rand(9);
      const writer = new EventWriter(ring, table);
      const got: ReturnType<typeof seen>[] = [];
      const reader = new EventReader(ring, 1, { observerName: 'test', observe: (e) => void got.push(seen(e)) });
      const sent: ReturnType<typeof seen>[] = [];
      for (let i = 0; i < 3000; i++) {
        const e = event(i);
        // Any field may be the one that is new to the table, or repeat one just seen.
        const pick = (pool: number, prefix: string) => (rand(4) === 0 ? '' : `${prefix}${rand(pool)}`);
        e.client = `10.${rand(3)}.${rand(256)}.${rand(256)}`;
        if (rand(3) === 0 && sent.length > 0) e.client = sent[sent.length - 1 - rand(Math.min(sent.length, table))].client;
        e.group = pick(table * 2, 'group-');
        e.list = pick(table * 3, 'list:');
        e.upstream = pick(table, '192.0.2.');
        writer.observe(e);
        sent.push({ ...seen(e), worker: 1 });
        if (rand(50) === 0) reader.drain();
      }
      reader.drain();
      expect(got.length, `seed ${seed}, table ${table}`).toBe(sent.length);
      for (let i = 0; i < sent.length; i++) if (JSON.stringify(got[i]) !== JSON.stringify(sent[i])) expect(got[i], `seed ${seed}, table ${table}, event ${i}`).toEqual(sent[i]);
    }
  });

  it('the full-size table: clients past its size at the moment a list is new keep their name', () => {
    const ring = eventRing();
    const writer = new EventWriter(ring);
    const got: string[] = [];
    const reader = new EventReader(ring, 0, { observerName: 'test', observe: (e) => void got.push(`${e.client}|${e.group}|${e.list}`) });
    const sent: string[] = [];
    const e = event(1);
    // Fill the table with clients (and the group and the empty list and upstream), then a known client whose list is new.
    for (let i = 0; i < MAX_STRINGS + 10; i++) {
      e.client = i === MAX_STRINGS - 2 ? '10.0.0.0' : `10.0.${i >> 8}.${i & 255}`;
      e.list = i === MAX_STRINGS - 2 ? 'service:new' : '';
      writer.observe(e);
      sent.push(`${e.client}|${e.group}|${e.list}`);
      if (i % 1000 === 0) reader.drain();
    }
    reader.drain();
    expect(got).toEqual(sent);
  });
});
