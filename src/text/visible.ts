// Text from outside (names, exception reasons, list entries, log fields)
// made safe to show to a person: every character a terminal, a browser or a
// spreadsheet would act on instead of print is written as its code. Control
// characters (ESC, NUL, TAB, CR, LF, DEL, C1), bidi and other invisible
// format characters (U+202E and its kin, zero-width, tags), line and
// paragraph separators, lone surrogates. Shown, never reversed: names have
// their own exact form (src/wire/presentation.ts), which passes unchanged.

import { stringify } from 'csv-stringify/sync';

const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;
const HIDDEN_ALL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

const code = (c: string): string => {
  const n = c.codePointAt(0)!;
  const hex = n.toString(16).toUpperCase();
  return n <= 0xff ? `\\x${hex.padStart(2, '0')}` : n <= 0xffff ? `\\u${hex.padStart(4, '0')}` : `\\u{${hex}}`;
};

/** `s` with every control, bidi and invisible format character written as `\xHH`, `\uHHHH` or `\u{H…}`. */
export function visible(s: string): string {
  return HIDDEN.test(s) ? s.replace(HIDDEN_ALL, code) : s;
}

/** Cells a spreadsheet reads as formulas begin with one of these, full-width forms included (Excel and LibreOffice take both). */
const FULLWIDTH_FORMULA = /^[\uff1d\uff0b\uff0d\uff20]/;

/**
 * Rows as CSV (RFC 4180, through csv-stringify): control characters shown
 * as codes, and a cell a spreadsheet would run as a formula (`= + - @`,
 * TAB, CR, or their full-width forms first) prefixed with `'`.
 */
export function csv(rows: readonly (readonly string[])[]): string {
  const cells = rows.map((row) => row.map((c) => {
    const v = visible(c);
    return FULLWIDTH_FORMULA.test(v) ? `'${v}` : v;
  }));
  return stringify(cells, { escape_formulas: true });
}

/** Rows as an aligned table for a terminal: two spaces between columns, `right` columns aligned right, control characters shown as codes. */
export function table(rows: readonly (readonly string[])[], right: ReadonlySet<number> = new Set()): string {
  const cells = rows.map((row) => row.map(visible));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((row) => row.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd() + '\n').join('');
}
