// What the query path tells observers (query log, metrics) about each
// answered query. One scratch event is filled and handed over per query:
// observers copy the fields they keep and must not hold on to the object.

import type { Guard } from './guard.js';

export type Verdict = 'allowed' | 'blocked' | 'refused' | 'invalid';

export class QueryEvent {
  /** Wall-clock milliseconds when the query arrived. */
  time = 0;
  client = '';
  /** The device id the client gave over DoH (`/dns-query/ID`) or DoT (SNI `ID.NAME`); '' for none. */
  device = '';
  /** Group name; '' when the client was refused or the query unreadable. */
  group = '';
  /** The query bytes; the name is at 12 .. questionEnd-4 when questionEnd > 0. */
  msg: Uint8Array = new Uint8Array(0);
  questionEnd = 0;
  qtype = 0;
  verdict: Verdict = 'allowed';
  /** Answered from the cache. */
  cached = false;
  /** The list that blocked (or '' ): `service:ID` for catalogue services. For an allowed query whose block was lifted, the list it would have been blocked by. */
  list = '';
  /** What let an allowed query through that `list` would have blocked: an exception, an allow rule, an allow entry, a pause; '' otherwise. */
  exception = '';
  rcode = 0;
  /** The upstream that answered, '' when none did. */
  upstream = '';
  /** How the query came: udp, tcp, dot or doh. */
  transport: 'udp' | 'tcp' | 'dot' | 'doh' = 'udp';
  /** Milliseconds from arrival to answer. */
  latencyMs = 0;
  /** The worker thread that answered (0 with `workers: 1`). */
  worker = 0;
}

export interface QueryObserver {
  /** Names it in aifence_observer_errors_total: metrics, console, querylog, postgres, events. */
  readonly observerName: string;
  /** Called synchronously once per answered query; must be cheap. A throw is caught by Observers, counted, and goes no further. */
  observe(event: QueryEvent): void;
}

/**
 * A thread's observers behind one guard: the resolver (or the ring reader)
 * hands each event here once, and a throw in one observer is counted and
 * stops there. Neither the other observers nor the answer already sent
 * feel it: send() never answers twice.
 */
export class Observers implements QueryObserver {
  readonly observerName = 'observers';
  readonly list: QueryObserver[] = [];

  constructor(readonly guard: Guard) {}

  add(o: QueryObserver): void {
    this.list.push(o);
  }

  remove(o: QueryObserver): void {
    const i = this.list.indexOf(o);
    if (i >= 0) this.list.splice(i, 1);
  }

  get length(): number {
    return this.list.length;
  }

  observe(e: QueryEvent): void {
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      try {
        list[i].observe(e);
      } catch (err) {
        this.guard.failed(list[i].observerName, err);
      }
    }
  }
}
