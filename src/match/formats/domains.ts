// Plain domain lists and wildcard lists: one `name` or `*.name` per line.
// `*.name` covers the name and its subdomains (see ../README.md).
import type { LineParser } from './types.js';
import { atCommentOrEnd, skipBlanks, tokenEnd } from './comments.js';

export function createDomainsParser(): LineParser {
  return (line, sink) => {
    const start = skipBlanks(line, 0);
    if (atCommentOrEnd(line, start)) return sink.ignore();
    const end = tokenEnd(line, start);
    if (!atCommentOrEnd(line, end)) return sink.reject('more than one token on a domain line');
    const token = start === 0 && end === line.length ? line : line.slice(start, end);
    if (token.startsWith('*.')) return sink.entry(token.slice(2), true, false);
    sink.entry(token, false, false);
  };
}
