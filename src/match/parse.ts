// Reading one list's text: split lines, run the format's line parser,
// normalise each name, count and sample what was not loaded. The text comes
// in chunks as it is read (ListParser), so a list is never held whole.
import type { ListFormat, ListReport, ListSpec, Reject } from './types.js';
import { createParser, type LineParser, type LineSink } from './formats/index.js';
import { FormatDetector } from './formats/detect.js';
import { normalizeName } from './name.js';

export const MAX_SAMPLES = 10;

/** Called once per loaded name; `lineText` is the source line as written (for explanations). */
export type EntryCallback = (name: string, line: number, exact: boolean, allow: boolean, lineText: string) => void;

/** Parse `text` as the list `spec` describes, calling `onEntry` per entry; returns the list's report. */
export function parseList(text: string, spec: ListSpec, onEntry: EntryCallback): ListReport {
  const parser = new ListParser(spec, onEntry);
  parser.push(text);
  return parser.end();
}

/**
 * One list's text, pushed in chunks of any size (lines may be cut anywhere),
 * then end(). With format `auto` the first meaningful lines are held until
 * their vote decides the format (200 of them, or a header), then parsed.
 */
export class ListParser {
  private readonly report: ListReport;
  private parse: LineParser | null = null;
  private readonly detector: FormatDetector | null;
  /** Lines read before the format was known: their numbers and text. */
  private held: { line: number; text: string }[] = [];
  /** The end of the last chunk, up to where its last line is cut. */
  private partial = '';
  private first = true;
  private lineNo = 0;
  private lineText = '';
  private readonly sink: LineSink;

  constructor(spec: ListSpec, onEntry: EntryCallback) {
    this.report = {
      name: spec.name, format: spec.format === 'auto' ? 'domains' : spec.format, entries: 0, ignored: 0, skipped: 0, rejected: 0, samples: [],
      ...(spec.source === undefined ? {} : { source: spec.source }),
    };
    this.detector = spec.format === 'auto' ? new FormatDetector() : null;
    if (spec.format !== 'auto') this.parse = createParser(spec.format);
    const report = this.report;
    const sample = (reason: string): void => {
      // A copy, not a slice: a slice would keep the whole chunk's text alive for as long as the report lives.
      const text = Buffer.from(this.lineText, 'utf8').toString('utf8');
      if (report.samples.length < MAX_SAMPLES) report.samples.push({ line: this.lineNo, text, reason } satisfies Reject);
    };
    this.sink = {
      entry: (rawName, wildcard, allow) => {
        const name = normalizeName(rawName);
        if (typeof name !== 'string') {
          report.rejected++;
          return sample(name.reason);
        }
        report.entries++;
        // `*.name` asks for subdomains explicitly, so it is never exact-only.
        onEntry(name, this.lineNo, spec.exact && !wildcard, spec.allow || allow, this.lineText);
      },
      ignore() { report.ignored++; },
      skip(reason) { report.skipped++; sample(reason); },
      reject(reason) { report.rejected++; sample(reason); },
    };
  }

  push(chunk: string): void {
    let text = this.partial + chunk;
    if (this.first && text.length > 0) {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // byte order mark
    }
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      this.line(text, start, end);
      start = end + 1;
    }
    this.partial = text.slice(start);
  }

  /** The last line (if it has no newline), any lines held for detection, and the report. */
  end(): ListReport {
    if (this.partial.length > 0) this.line(this.partial, 0, this.partial.length);
    this.partial = '';
    if (this.parse === null) this.decide(this.detector!.format());
    return this.report;
  }

  private line(text: string, start: number, end: number): void {
    this.lineNo++;
    let stop = end;
    while (stop > start && isBlank(text.charCodeAt(stop - 1))) stop--; // CR and trailing blanks
    if (stop === start) return; // blank lines are not counted
    const lineText = text.slice(start, stop);
    if (this.parse === null) {
      this.held.push({ line: this.lineNo, text: lineText });
      const format = this.detector!.line(lineText);
      if (format !== null) this.decide(format);
      return;
    }
    this.lineText = lineText;
    this.parse(lineText, this.sink);
  }

  /** The format is known: parse the lines held meanwhile. */
  private decide(format: ListFormat): void {
    this.report.format = format;
    this.parse = createParser(format);
    const held = this.held;
    this.held = [];
    const lineNo = this.lineNo;
    for (const h of held) {
      this.lineNo = h.line;
      this.lineText = h.text;
      this.parse(h.text, this.sink);
    }
    this.lineNo = lineNo;
  }
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 13;
}
