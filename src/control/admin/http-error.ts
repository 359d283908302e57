// An admin API answer that is an error: its HTTP status, the message the
// caller reads, and any headers (retry-after, connection: close). Thrown by
// a route or by what it calls (exceptions, access requests, check), and
// turned into the response by the server.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
