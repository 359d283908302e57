// What the query path tells observers (query log, metrics) about each
// answered query. One scratch event is filled and handed over per query:
// observers copy the fields they keep and must not hold on to the object.

export type Verdict = 'allowed' | 'blocked' | 'refused' | 'invalid';

export class QueryEvent {
  /** Wall-clock milliseconds when the query arrived. */
  time = 0;
  client = '';
  /** Group name; '' when the client was refused or the query unreadable. */
  group = '';
  /** The query bytes; the name is at 12 .. questionEnd-4 when questionEnd > 0. */
  msg: Uint8Array = new Uint8Array(0);
  questionEnd = 0;
  qtype = 0;
  verdict: Verdict = 'allowed';
  /** Answered from the cache. */
  cached = false;
  /** The list that blocked (or '' ): `service:ID` for catalogue services. */
  list = '';
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
  /** Called synchronously once per answered query; must be cheap and must not throw. */
  observe(event: QueryEvent): void;
}
