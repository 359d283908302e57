// What a format parser sees and reports, one line at a time. Parsers deal in
// syntax only; the driver (../parse.ts) normalises names, counts and samples.

/** Receives what a line means. A line may carry several names (hosts: `0.0.0.0 a b c`). */
export interface LineSink {
  /** A name to list. `wildcard`: written as `*.name`. `allow`: an exception entry. */
  entry(rawName: string, wildcard: boolean, allow: boolean): void;
  /** Carries no entry by design: comment, header, SOA/NS, localhost preamble. */
  ignore(): void;
  /** Understood but not expressible as a DNS name entry. */
  skip(reason: string): void;
  /** Not understood. */
  reject(reason: string): void;
}

/** Parses one line: CR and trailing blanks removed, never blank; leading blanks kept (they mean something in zone files). */
export type LineParser = (line: string, sink: LineSink) => void;
