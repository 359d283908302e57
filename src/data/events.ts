// Query events from a worker thread to the control plane, where the query
// log, the metrics and the console observe them. Each answered query is
// packed into a byte batch (no object per query); a batch is transferred,
// not copied, when it is nearly full or BATCH_MS after its first event, so
// the control thread handles a few hundred events per message.
//
// An event: f64 time, f64 latency, u16 qtype, u8 verdict, u8 flags
// (cached, transport), u8 rcode, then client, group, list and upstream as
// u8-length-prefixed UTF-8 (each at most 255 bytes), then the query's
// header and question as u16 length + bytes.

import { QueryEvent, type QueryObserver, type Verdict } from '../shared/events.js';

const VERDICTS: readonly Verdict[] = ['allowed', 'blocked', 'refused', 'invalid'];
const TRANSPORTS: readonly QueryEvent['transport'][] = ['udp', 'tcp', 'dot', 'doh'];
const BATCH_BYTES = 64 * 1024;
/** The largest event: fixed fields, four strings, a 12-byte header and a 255-byte name with its type and class. */
const MAX_EVENT = 21 + 4 * 256 + 2 + 12 + 255 + 4;
const BATCH_MS = 20;

/** In a worker: packs every event it observes and hands each full (or 20 ms old) batch to `post`. */
export class EventPacker implements QueryObserver {
  private buf = Buffer.allocUnsafe(BATCH_BYTES);
  private at = 0;
  private count = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly post: (batch: ArrayBuffer, length: number) => void) {}

  observe(e: QueryEvent): void {
    if (this.at + MAX_EVENT > BATCH_BYTES) this.flush();
    const b = this.buf;
    let at = this.at;
    b.writeDoubleLE(e.time, at);
    b.writeDoubleLE(e.latencyMs, at + 8);
    b.writeUInt16LE(e.qtype, at + 16);
    b[at + 18] = VERDICTS.indexOf(e.verdict);
    b[at + 19] = (e.cached ? 1 : 0) | (TRANSPORTS.indexOf(e.transport) << 1);
    b[at + 20] = e.rcode;
    at = writeString(b, at + 21, e.client);
    at = writeString(b, at, e.group);
    at = writeString(b, at, e.list);
    at = writeString(b, at, e.upstream);
    const n = e.questionEnd;
    b.writeUInt16LE(n, at);
    b.set(e.msg.subarray(0, n), at + 2);
    this.at = at + 2 + n;
    this.count++;
    if (this.timer === null) this.timer = setTimeout(() => this.flush(), BATCH_MS);
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

function writeString(b: Buffer, at: number, s: string): number {
  const n = s.length === 0 ? 0 : b.write(s, at + 1, 255, 'utf8');
  b[at] = n;
  return at + 1 + n;
}

/** In the control thread: unpacks a batch into the one scratch event, and hands each to the observers, tagged with the worker. */
export function unpackEvents(batch: ArrayBuffer, count: number, worker: number, observers: readonly QueryObserver[], e: QueryEvent): void {
  const b = Buffer.from(batch);
  let at = 0;
  for (let i = 0; i < count; i++) {
    e.time = b.readDoubleLE(at);
    e.latencyMs = b.readDoubleLE(at + 8);
    e.qtype = b.readUInt16LE(at + 16);
    e.verdict = VERDICTS[b[at + 18]];
    e.cached = (b[at + 19] & 1) === 1;
    e.transport = TRANSPORTS[b[at + 19] >> 1];
    e.rcode = b[at + 20];
    at += 21;
    e.client = readString(b, at);
    at += 1 + b[at];
    e.group = readString(b, at);
    at += 1 + b[at];
    e.list = readString(b, at);
    at += 1 + b[at];
    e.upstream = readString(b, at);
    at += 1 + b[at];
    const n = b.readUInt16LE(at);
    e.msg = b.subarray(at + 2, at + 2 + n);
    e.questionEnd = n;
    at += 2 + n;
    e.worker = worker;
    for (const o of observers) o.observe(e);
  }
}

const readString = (b: Buffer, at: number): string => (b[at] === 0 ? '' : b.toString('utf8', at + 1, at + 1 + b[at]));
