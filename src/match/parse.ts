// Reading one list's text: split lines, run the format's line parser,
// normalise each name, count and sample what was not loaded.
import type { ListFormat, ListReport, ListSpec, Reject } from './types.js';
import { createParser, detectFormat, type LineSink } from './formats/index.js';
import { normalizeName } from './name.js';

export const MAX_SAMPLES = 10;

/** Called once per loaded name; `lineText` is the source line as written (for explanations). */
export type EntryCallback = (name: string, line: number, exact: boolean, allow: boolean, lineText: string) => void;

/** Parse `text` as the list `spec` describes, calling `onEntry` per entry; returns the list's report. */
export function parseList(text: string, spec: ListSpec, onEntry: EntryCallback): ListReport {
  const format: ListFormat = spec.format === 'auto' ? detectFormat(text) : spec.format;
  const parse = createParser(format);
  const report: ListReport = {
    name: spec.name, format, entries: 0, ignored: 0, skipped: 0, rejected: 0, samples: [],
    ...(spec.source === undefined ? {} : { source: spec.source }),
  };
  let lineNo = 0;
  let lineText = '';
  const sample = (reason: string): void => {
    // A copy, not a slice: a slice would keep the whole file's text alive for as long as the report lives.
    const text = Buffer.from(lineText, 'utf8').toString('utf8');
    if (report.samples.length < MAX_SAMPLES) report.samples.push({ line: lineNo, text, reason } satisfies Reject);
  };
  const sink: LineSink = {
    entry(rawName, wildcard, allow) {
      const name = normalizeName(rawName);
      if (typeof name !== 'string') {
        report.rejected++;
        return sample(name.reason);
      }
      report.entries++;
      // `*.name` asks for subdomains explicitly, so it is never exact-only.
      onEntry(name, lineNo, spec.exact && !wildcard, spec.allow || allow, lineText);
    },
    ignore() { report.ignored++; },
    skip(reason) { report.skipped++; sample(reason); },
    reject(reason) { report.rejected++; sample(reason); },
  };

  let start = text.charCodeAt(0) === 0xfeff ? 1 : 0; // byte order mark
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    let stop = end;
    while (stop > start && isBlank(text.charCodeAt(stop - 1))) stop--; // CR and trailing blanks
    if (stop > start) {
      lineText = text.slice(start, stop);
      parse(lineText, sink);
    }
    start = end + 1;
  }
  return report;
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 13;
}
