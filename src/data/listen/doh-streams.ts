// HTTP/2 streams that a DoH client cancels (RST_STREAM) before its answer.
// Rapid reset (CVE-2023-44487) opens streams and cancels them at once: each
// cancel frees a slot under doh.maxStreams, so without more the stream limit
// never holds while every query still goes upstream. Here:
//
// - a query is handed to the resolver only once the frames read with its
//   HEADERS are processed: a stream cancelled in the same read costs nothing;
// - a cancelled query still waiting on upstream keeps its slot: when a
//   session has doh.maxStreams of them and opens another stream, it is doing
//   what the limit forbids;
// - each session may cancel 2 × doh.maxStreams streams more than it was
//   answered (a budget refilled by answers);
//
// and a session over either is ended with GOAWAY ENHANCE_YOUR_CALM (RFC 9113
// §5.4.1, the code for a peer "exhibiting a behavior that might be generating
// excessive load"). A browser cancelling a few lookups when a tab closes is
// nowhere near either.

import { type Http2Session, type ServerHttp2Stream, constants } from 'node:http2';

/** Each stream's session budget (a stream torn down with its session no longer names it). */
const budgets = new WeakMap<ServerHttp2Stream, StreamBudget>();
/** Time for the GOAWAY to leave before the connection is destroyed (destroying at once can drop it unsent). */
const CALM_CLOSE_MS = 100;

export class StreamBudget {
  /** Cancelled by the client while their queries are still out. */
  private orphans = 0;
  /** Cancellations left: 2 × maxStreams, one back per answer. */
  private tokens: number;
  private readonly most: number;
  private calmed = false;

  private constructor(
    private readonly session: Http2Session,
    private readonly maxStreams: number,
  ) {
    this.most = this.tokens = 2 * maxStreams;
  }

  /**
   * Keeps the books of a new session: every stream it opens is counted when
   * it closes, answered or cancelled (whatever path its request took).
   */
  static watch(session: Http2Session, maxStreams: number): void {
    const budget = new StreamBudget(session, maxStreams);
    // Before the request handler runs: it looks the budget up.
    session.prependListener('stream', (stream: ServerHttp2Stream) => {
      budgets.set(stream, budget);
      stream.once('close', () => {
        if (stream.headersSent) budget.answered();
        else budget.cancelled();
      });
    });
  }

  /** The budget of the session `stream` came on (null: not an HTTP/2 stream of a watched session). */
  static of(stream: ServerHttp2Stream): StreamBudget | null {
    return budgets.get(stream) ?? null;
  }

  /** May a new query go upstream? False once the session is cut off; cuts it off when its cancelled queries fill the stream limit. */
  admit(): boolean {
    if (this.orphans >= this.maxStreams) this.calm();
    return !this.calmed;
  }

  /** A stream whose query is out was cancelled: its slot stays taken until `orphanDone`. */
  orphaned(): void {
    this.orphans++;
  }

  /** The query of a cancelled stream came back (its answer goes nowhere). */
  orphanDone(): void {
    this.orphans--;
  }

  private cancelled(): void {
    if (--this.tokens < 0) this.calm();
  }

  private answered(): void {
    if (this.tokens < this.most) this.tokens++;
  }

  /** GOAWAY ENHANCE_YOUR_CALM, and the connection closes once that is written. */
  private calm(): void {
    if (this.calmed || this.session.destroyed) return;
    this.calmed = true;
    // Streams the client opens from now on are refused by the protocol layer; none is dispatched (admit()).
    this.session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    setTimeout(() => this.session.destroy(), CALM_CLOSE_MS).unref();
  }
}
