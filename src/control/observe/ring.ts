// The bounded ring both query-log writers (the file and the PostgreSQL sink)
// buffer entries in: preallocated slots filled on the answer path without
// allocating, each name's wire bytes in one shared slab, the oldest entries
// taken off in batches by the writer. Full means the entry is dropped.

import { nameText } from '../../wire/presentation.js';
import type { QueryEvent, Verdict } from '../../shared/events.js';

/** One buffered entry; slots are reused. */
export class Entry {
  time = 0;
  client = '';
  /** The device id the query named (DoH path, DoT SNI); '' for none. */
  device = '';
  group = '';
  /** Length of the name's wire bytes (root label included); 0 when the query had no readable question. */
  nameLen = 0;
  qtype = 0;
  verdict: Verdict = 'allowed';
  cached = false;
  list = '';
  exception = '';
  rcode = 0;
  upstream = '';
  transport: QueryEvent['transport'] = 'udp';
  latencyMs = 0;
}

const NAME_MAX = 256;

export class EntryRing {
  private readonly slots: Entry[];
  private readonly names: Uint8Array;
  private head = 0;
  /** Entries waiting, oldest first. */
  count = 0;

  constructor(readonly capacity: number) {
    this.slots = Array.from({ length: capacity }, () => new Entry());
    this.names = new Uint8Array(capacity * NAME_MAX);
  }

  /** Copies the event's fields into the next free slot; false (nothing kept) when the ring is full. */
  push(e: QueryEvent): boolean {
    if (this.count === this.capacity) return false;
    const i = (this.head + this.count) % this.capacity;
    const s = this.slots[i];
    s.time = e.time;
    s.client = e.client;
    s.device = e.device;
    s.group = e.group;
    s.nameLen = e.questionEnd > 16 ? e.questionEnd - 16 : 0;
    if (s.nameLen > 0) this.names.set(e.msg.subarray(12, 12 + s.nameLen), i * NAME_MAX);
    s.qtype = e.qtype;
    s.verdict = e.verdict;
    s.cached = e.cached;
    s.list = e.list;
    s.exception = e.exception;
    s.rcode = e.rcode;
    s.upstream = e.upstream;
    s.transport = e.transport;
    s.latencyMs = e.latencyMs;
    this.count++;
    return true;
  }

  /** The k-th oldest waiting entry (0: the oldest). */
  at(k: number): Entry {
    return this.slots[(this.head + k) % this.capacity];
  }

  /** The k-th oldest entry's name in presentation form (src/wire/presentation.ts); '' when it has none. */
  name(k: number): string {
    const i = (this.head + k) % this.capacity;
    const length = this.slots[i].nameLen;
    if (length === 0) return '';
    const at = i * NAME_MAX;
    return nameText(this.names, at, at + length);
  }

  /** Forgets the n oldest entries (written, or dropped). */
  shift(n: number): void {
    this.head = (this.head + n) % this.capacity;
    this.count -= n;
  }
}
