// HTTP/2 streams that a DoH client cancels (RST_STREAM) before its answer.
// Rapid reset (CVE-2023-44487) opens streams and cancels them at once: each
// cancel frees a slot under doh.maxStreams, so without more the stream limit
// never holds while every query still goes upstream. Here, per session:
//
// - queries out count until their answer comes, whether their stream is
//   open or was cancelled: more than 2 × doh.maxStreams of them (a client may
//   leave as many cancelled queries out as it may have streams) is what the
//   limit forbids;
// - it may cancel 2 × doh.maxStreams streams more than it was answered (a
//   budget refilled by answers);
//
// and a session over either is ended with GOAWAY ENHANCE_YOUR_CALM (RFC 9113
// §5.4.1, the code for a peer "exhibiting a behavior that might be generating
// excessive load"). A browser cancelling a few lookups when a tab closes is
// nowhere near either. A stream already reset when its request is read
// (HEADERS and RST_STREAM read together, as h2c delivers them) is not
// answered and costs nothing upstream. Queries are handed on at once, not a
// turn of the loop later to catch resets read with them over TLS: that
// deferral cost 15-20% more CPU per DoH answer, and the count above bounds
// those queries anyway. Nothing here is per stream but two counters.

import { type Http2Session, type ServerHttp2Stream, constants } from 'node:http2';

/** Time for the GOAWAY to leave before the connection is destroyed (destroying at once can drop it unsent). */
const CALM_CLOSE_MS = 100;
const budgetOf = Symbol('streamBudget');
type Budgeted = Http2Session & { [budgetOf]?: StreamBudget };

export class StreamBudget {
  /** Queries handed to the resolver whose answer has not come, for streams open or cancelled. */
  private working = 0;
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

  /** Keeps the books of a new session. */
  static watch(session: Http2Session, maxStreams: number): void {
    const budget = new StreamBudget(session, maxStreams);
    (session as Budgeted)[budgetOf] = budget;
    // A stream reset in the same read as its HEADERS may be gone before its request is seen (HTTP/2 in clear): counted here.
    session.prependListener('stream', (stream: ServerHttp2Stream) => {
      if (stream.destroyed || stream.closed) budget.cancelled();
    });
  }

  /** The budget of the session `stream` came on (null: not an HTTP/2 stream of a watched session). */
  static of(stream: ServerHttp2Stream): StreamBudget | null {
    return (stream.session as Budgeted | undefined)?.[budgetOf] ?? null;
  }

  /**
   * May `stream`'s query go to the resolver? Counts it out; cuts the session
   * off when it has 2 × maxStreams queries out (node may refuse its next
   * streams itself, unseen here, so not one later).
   */
  ask(stream: ServerHttp2Stream): boolean {
    if (stream.destroyed || stream.closed) {
      this.cancelled();
      return false;
    }
    if (this.calmed) return false;
    if (++this.working >= 2 * this.maxStreams) this.calm();
    return true;
  }

  /** The answer to `stream`'s query came: false when it goes nowhere (the client cancelled the stream meanwhile). */
  answer(stream: ServerHttp2Stream): boolean {
    this.working--;
    if (stream.destroyed || stream.closed) {
      this.cancelled();
      return false;
    }
    if (this.tokens < this.most) this.tokens++;
    return true;
  }

  private cancelled(): void {
    if (--this.tokens < 0) this.calm();
  }

  /** GOAWAY ENHANCE_YOUR_CALM, and the connection closes once that is written. */
  private calm(): void {
    if (this.calmed || this.session.destroyed) return;
    this.calmed = true;
    // Streams the client opens from now on are refused by the protocol layer; none is handed on.
    this.session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    setTimeout(() => this.session.destroy(), CALM_CLOSE_MS).unref();
  }
}
