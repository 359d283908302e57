// Query events from a worker thread to the control plane, where the query
// log, the metrics and the console observe them. Each answered query is
// written into a ring of shared memory that the worker fills and the control
// thread empties every DRAIN_MS: no message, no object and no string per
// query. When the control thread falls behind and the ring is full, events
// are dropped and counted, never waited for: answering comes first.
//
// A record: an event (u8 1, f64 time, f64 latency, u16 qtype, u8 verdict,
// u8 flags (cached, transport), u8 rcode, u16 ids of its client, group, list,
// upstream, exception and device strings, u16 length + the query's header and question), a
// string definition (u8 2, u16 id, u8 length, UTF-8), a reset of the string
// table (u8 3, past MAX_STRINGS), or a wrap to the ring's start (u8 0). A
// string thus crosses once, and an event costs no encoding or decoding.
// A reset comes before an event's strings, never between them: an id taken
// for one field must still name it when the event is read.

import { QueryEvent, type QueryObserver, type Verdict } from '../shared/events.js';

const VERDICTS: readonly Verdict[] = ['allowed', 'blocked', 'refused', 'invalid'];
/** Strings an event names: client, group, list, upstream, exception, device. */
const FIELDS = 6;
const TRANSPORTS: readonly QueryEvent['transport'][] = ['udp', 'tcp', 'dot', 'doh'];
/** The ring: 1 MB holds about 13,000 events, 130 ms of a worker answering 100,000 q/s. */
export const RING_BYTES = 1 << 20;
/** How often the control thread empties each ring. */
export const DRAIN_MS = 10;
/** Bytes of an event record before its query bytes. */
const FIXED = 36;
/** The largest event with its string definitions (and table resets): six strings, the fixed fields, a 12-byte header and a 255-byte name with its type and class. */
const MAX_EVENT = 1 + FIELDS * (4 + 255) + FIXED + 12 + 255 + 4;
const WRAP = 0;
const EVENT = 1;
const DEFINE = 2;
const RESET = 3;
/** Distinct strings (clients, groups, lists, upstreams, exceptions, devices) remembered at once; an office has far fewer clients. */
export const MAX_STRINGS = 8192;
// The header, Int32 words before the ring's bytes: where the reader is, where the writer is, events dropped.
const HEAD = 0;
const TAIL = 1;
const DROPPED = 2;
const HEADER_BYTES = 16;

/** A new ring's memory, made by the control thread and given to one worker. */
export const eventRing = (): SharedArrayBuffer => new SharedArrayBuffer(HEADER_BYTES + RING_BYTES);

/** In a worker: writes every event it observes into the ring. */
export class EventWriter implements QueryObserver {
  readonly observerName = 'events';
  private readonly state: Int32Array;
  private readonly b: Buffer;
  private readonly ids = new Map<string, number>();
  /** Where the record being written goes next. */
  private at = 0;
  /** The id of '' in the table now (-1: not defined since the last reset). */
  private empty = -1;

  constructor(
    ring: SharedArrayBuffer,
    /** The string table's size (tests make it tiny to reset often). */
    private readonly maxStrings = MAX_STRINGS,
  ) {
    this.state = new Int32Array(ring, 0, HEADER_BYTES / 4);
    this.b = Buffer.from(ring, HEADER_BYTES, RING_BYTES);
    this.at = Atomics.load(this.state, TAIL);
  }

  observe(e: QueryEvent): void {
    if (!this.room()) {
      Atomics.add(this.state, DROPPED, 1);
      return;
    }
    // Room in the table for every field before the first is interned: a reset past this point would empty
    // the table under ids already taken for this event (a client read back as undefined).
    if (this.ids.size > this.maxStrings - FIELDS) {
      this.ids.clear();
      this.empty = -1;
      this.b[this.at++] = RESET;
    }
    const client = this.id(e.client);
    const group = this.id(e.group);
    const list = this.id(e.list);
    const upstream = this.id(e.upstream);
    const exception = this.id(e.exception);
    const device = this.id(e.device);
    const b = this.b;
    const at = this.at;
    b[at] = EVENT;
    b.writeDoubleLE(e.time, at + 1);
    b.writeDoubleLE(e.latencyMs, at + 9);
    b.writeUInt16LE(e.qtype, at + 17);
    b[at + 19] = VERDICTS.indexOf(e.verdict);
    b[at + 20] = (e.cached ? 1 : 0) | (TRANSPORTS.indexOf(e.transport) << 1);
    b[at + 21] = e.rcode;
    b.writeUInt16LE(client, at + 22);
    b.writeUInt16LE(group, at + 24);
    b.writeUInt16LE(list, at + 26);
    b.writeUInt16LE(upstream, at + 28);
    b.writeUInt16LE(exception, at + 30);
    b.writeUInt16LE(device, at + 32);
    const n = e.questionEnd;
    b.writeUInt16LE(n, at + 34);
    // A loop, not set(subarray()): a name is short, and a view would be an object per query.
    const msg = e.msg;
    for (let i = 0; i < n; i++) b[at + FIXED + i] = msg[i];
    this.at = at + FIXED + n;
    // Publishing the tail makes the bytes before it visible to the reader (Atomics order them).
    Atomics.store(this.state, TAIL, this.at);
  }

  /** Room for the largest event at `at`, contiguous: wraps to the start when the end is too near (and the start is free). */
  private room(): boolean {
    const head = Atomics.load(this.state, HEAD);
    const at = this.at;
    const free = (head - at - 1 + RING_BYTES) % RING_BYTES;
    if (RING_BYTES - at >= MAX_EVENT) return free >= MAX_EVENT;
    // The reader must have passed the start by more than an event, and not be at or ahead of the writer.
    if (head <= at && head > MAX_EVENT) {
      this.b[at] = WRAP;
      this.at = 0;
      return true;
    }
    return false;
  }

  /** The string's id, defined in the ring the first time it is seen. */
  private id(s: string): number {
    // Most of an event's six fields are '' (no device, exception, upstream…): a compare before the Map.
    if (s === '' && this.empty >= 0) return this.empty;
    const known = this.ids.get(s);
    if (known !== undefined) return s === '' ? (this.empty = known) : known;
    const id = this.ids.size;
    this.ids.set(s, id);
    if (s === '') this.empty = id;
    const b = this.b;
    b[this.at] = DEFINE;
    b.writeUInt16LE(id, this.at + 1);
    const n = b.write(s, this.at + 4, 255, 'utf8');
    b[this.at + 3] = n;
    this.at += 4 + n;
    return id;
  }
}

/** In the control thread: empties one worker's ring, handing each event (in one scratch object, tagged with the worker) to the observers. */
export class EventReader {
  private readonly state: Int32Array;
  private readonly b: Buffer;
  private readonly strings: string[] = [];
  private readonly e = new QueryEvent();
  /** The query bytes of the event being observed, in a Buffer kept per length (a header and question: at most 12 + 255 + 4). */
  private readonly byLength: (Buffer | undefined)[] = [];

  constructor(
    ring: SharedArrayBuffer,
    worker: number,
    /** The control thread's observers, behind their guard (src/shared/events.ts Observers). */
    private readonly observers: QueryObserver,
  ) {
    this.state = new Int32Array(ring, 0, HEADER_BYTES / 4);
    this.b = Buffer.from(ring, HEADER_BYTES, RING_BYTES);
    this.e.worker = worker;
  }

  /** Events the worker dropped because the ring was full. */
  get dropped(): number {
    return Atomics.load(this.state, DROPPED);
  }

  /** Reads every event written so far; returns how many. */
  drain(): number {
    const { b, e, strings, observers } = this;
    const tail = Atomics.load(this.state, TAIL);
    let at = Atomics.load(this.state, HEAD);
    let events = 0;
    while (at !== tail) {
      const kind = b[at];
      if (kind === WRAP) {
        at = 0;
        continue;
      }
      if (kind === DEFINE) {
        const n = b[at + 3];
        strings[b.readUInt16LE(at + 1)] = b.toString('utf8', at + 4, at + 4 + n);
        at += 4 + n;
        continue;
      }
      if (kind === RESET) {
        strings.length = 0;
        at++;
        continue;
      }
      e.time = b.readDoubleLE(at + 1);
      e.latencyMs = b.readDoubleLE(at + 9);
      e.qtype = b.readUInt16LE(at + 17);
      e.verdict = VERDICTS[b[at + 19]];
      e.cached = (b[at + 20] & 1) === 1;
      e.transport = TRANSPORTS[b[at + 20] >> 1];
      e.rcode = b[at + 21];
      e.client = strings[b.readUInt16LE(at + 22)];
      e.group = strings[b.readUInt16LE(at + 24)];
      e.list = strings[b.readUInt16LE(at + 26)];
      e.upstream = strings[b.readUInt16LE(at + 28)];
      e.exception = strings[b.readUInt16LE(at + 30)];
      e.device = strings[b.readUInt16LE(at + 32)];
      const n = b.readUInt16LE(at + 34);
      // Observers copy what they keep before this returns: one Buffer per length, refilled, so an event costs no view.
      const msg = (this.byLength[n] ??= Buffer.allocUnsafeSlow(n));
      for (let i = 0; i < n; i++) msg[i] = b[at + FIXED + i];
      e.msg = msg;
      e.questionEnd = n;
      at += FIXED + n;
      events++;
      observers.observe(e);
    }
    Atomics.store(this.state, HEAD, at);
    return events;
  }
}
