// Tokenising helpers for the line formats where `#` starts a comment
// anywhere (hosts and domain lists). Index-based, so a plain line costs no
// intermediate strings.

export function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}

/** Index of the first non-blank character at or after `from`. */
export function skipBlanks(line: string, from: number): number {
  let i = from;
  while (i < line.length && isBlank(line.charCodeAt(i))) i++;
  return i;
}

/** Index just past the token starting at `from` (it ends at a blank or `#`). */
export function tokenEnd(line: string, from: number): number {
  let i = from;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (isBlank(c) || c === 35) break;
    i++;
  }
  return i;
}

/** True when nothing but blanks or a `#` comment is left from `from`. */
export function atCommentOrEnd(line: string, from: number): boolean {
  const i = skipBlanks(line, from);
  return i >= line.length || line.charCodeAt(i) === 35;
}
