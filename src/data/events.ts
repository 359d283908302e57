// Query events from a worker thread to the control plane, where the query
// log, the metrics and the console observe them. Each answered query is
// packed into a byte batch (no object per query); a batch is transferred,
// not copied, when it is nearly full or BATCH_MS after its first event, so
// the control thread handles a few hundred events per message.
//
// A batch is a run of records. An event: u8 1, f64 time, f64 latency, u16
// qtype, u8 verdict, u8 flags (cached, transport), u8 rcode, u16 ids of its
// client, group, list and upstream strings, then the query's header and
// question as u16 length + bytes. Strings go once per batch stream, as a
// definition (u8 2, u16 id, u8 length, UTF-8), so an event costs no string
// encoding or decoding; past MAX_STRINGS distinct strings both sides start
// their tables afresh (u8 3).

import { QueryEvent, type QueryObserver, type Verdict } from '../shared/events.js';

const VERDICTS: readonly Verdict[] = ['allowed', 'blocked', 'refused', 'invalid'];
const TRANSPORTS: readonly QueryEvent['transport'][] = ['udp', 'tcp', 'dot', 'doh'];
const BATCH_BYTES = 64 * 1024;
/** The largest event: four string definitions, the fixed fields, a 12-byte header and a 255-byte name with its type and class. */
const MAX_EVENT = 1 + 4 * (4 + 255) + 30 + 2 + 12 + 255 + 4;
const BATCH_MS = 20;
const EVENT = 1;
const DEFINE = 2;
const RESET = 3;
/** Distinct strings (clients, groups, lists, upstreams) remembered at once; an office has far fewer clients. */
const MAX_STRINGS = 8192;

/** In a worker: packs every event it observes and hands each full (or 20 ms old) batch to `post`. */
export class EventPacker implements QueryObserver {
  private buf = Buffer.allocUnsafe(BATCH_BYTES);
  private at = 0;
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly ids = new Map<string, number>();

  constructor(private readonly post: (batch: ArrayBuffer, length: number) => void) {}

  observe(e: QueryEvent): void {
    if (this.at + MAX_EVENT > BATCH_BYTES) this.flush();
    const client = this.id(e.client);
    const group = this.id(e.group);
    const list = this.id(e.list);
    const upstream = this.id(e.upstream);
    const b = this.buf;
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
    const n = e.questionEnd;
    b.writeUInt16LE(n, at + 30);
    // A loop, not set(subarray()): a name is short, and a view would be an object per query.
    const msg = e.msg;
    for (let i = 0; i < n; i++) b[at + 32 + i] = msg[i];
    this.at = at + 32 + n;
    this.count++;
    if (this.timer === null) this.timer = setTimeout(() => this.flush(), BATCH_MS);
  }

  /** The string's id, defined in the batch the first time it is seen. */
  private id(s: string): number {
    const known = this.ids.get(s);
    if (known !== undefined) return known;
    if (this.ids.size >= MAX_STRINGS) {
      this.ids.clear();
      this.buf[this.at++] = RESET;
    }
    const id = this.ids.size;
    this.ids.set(s, id);
    const b = this.buf;
    b[this.at] = DEFINE;
    b.writeUInt16LE(id, this.at + 1);
    const n = b.write(s, this.at + 4, 255, 'utf8');
    b[this.at + 3] = n;
    this.at += 4 + n;
    return id;
  }

  /** Sends what is packed now (also before the worker stops). */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.count === 0) return;
    // The batch's memory moves to the control thread: a new one for the next events.
    const batch = this.buf.buffer.slice(this.buf.byteOffset, this.buf.byteOffset + this.at) as ArrayBuffer;
    this.post(batch, this.count);
    this.at = 0;
    this.count = 0;
  }
}

/** In the control thread: one worker's batches, unpacked in order into one scratch event handed to each observer. */
export class EventUnpacker {
  private readonly strings: string[] = [];
  private readonly e = new QueryEvent();

  constructor(
    private readonly worker: number,
    private readonly observers: readonly QueryObserver[],
  ) {}

  unpack(batch: ArrayBuffer): void {
    const b = Buffer.from(batch);
    const { e, strings, observers } = this;
    e.worker = this.worker;
    let at = 0;
    while (at < b.length) {
      const kind = b[at];
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
      const n = b.readUInt16LE(at + 30);
      e.msg = b.subarray(at + 32, at + 32 + n);
      e.questionEnd = n;
      at += 32 + n;
      for (const o of observers) o.observe(e);
    }
  }
}
