// Normalising list and query names: lower case ASCII, IDN as punycode, no
// trailing dot, RFC 1035 length limits. Underscore is accepted because real
// lists carry names like `_dmarc.example.com`.
import { domainToASCII } from 'node:url';
import { NameTextError, nameText, parseNameText } from '../wire/presentation.js';
import type { Matcher } from './types.js';

/** Why a name was refused. A class so the success path returns a bare string and allocates nothing. */
export class InvalidName {
  constructor(readonly reason: string) {}
}

const MAX_NAME = 253;
const MAX_LABEL = 63;
/** check()'s answer when the name has upper case or non-ASCII characters to map first. */
const NEEDS_MAPPING = 1;

/** Normalise a presentation-format name, or say why it is not a usable name. */
export function normalizeName(raw: string): string | InvalidName {
  let name = raw;
  if (name.length > 0 && name.charCodeAt(name.length - 1) === 46) name = name.slice(0, -1);
  if (name.length === 0) return new InvalidName('empty name');
  let verdict = check(name);
  if (verdict === NEEDS_MAPPING) {
    name = foldOrIdn(name);
    if (name.length === 0) return new InvalidName('invalid internationalised name');
    verdict = check(name);
  }
  if (verdict === NEEDS_MAPPING) return new InvalidName(`invalid character ${JSON.stringify(firstBadChar(name))}`);
  if (verdict !== undefined) return verdict;
  // A numeric last label only occurs in address literals (no TLD is numeric).
  const last = name.charCodeAt(name.length - 1);
  if (last >= 48 && last <= 57 && /^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return new InvalidName('an IP address, not a domain name');
  return name;
}

/** One pass over a name: undefined if it is a valid normalised name. */
function check(name: string): InvalidName | typeof NEEDS_MAPPING | undefined {
  if (name.length > MAX_NAME) return new InvalidName(`name longer than ${MAX_NAME} octets`);
  let labelStart = 0;
  let mapping = false;
  const n = name.length;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    const k = c < 128 ? CHAR_CLASS[c] : UPPER;
    if (k === LABEL) continue;
    if (k === DOT) {
      const len = i - labelStart;
      if (len === 0) return new InvalidName('empty label');
      if (len > MAX_LABEL) return new InvalidName(`label longer than ${MAX_LABEL} octets`);
      labelStart = i + 1;
    } else if (k === UPPER) {
      mapping = true;
    } else {
      return new InvalidName(`invalid character ${JSON.stringify(name[i])}`);
    }
  }
  const len = n - labelStart;
  if (len === 0) return new InvalidName('empty label');
  if (len > MAX_LABEL) return new InvalidName(`label longer than ${MAX_LABEL} octets`);
  return mapping ? NEEDS_MAPPING : undefined;
}

const LABEL = 1;
const DOT = 2;
/** Upper case ASCII, or (for codes past 127) anything non-ASCII: mapped first, then checked again. */
const UPPER = 3;
/** check()'s view of each ASCII code; 0 is a character no name may hold. */
const CHAR_CLASS = new Uint8Array(128).map((_, c) => (isLabelChar(c) ? LABEL : c === 46 ? DOT : c >= 65 && c <= 90 ? UPPER : 0));

/** The characters a stored label may hold: a-z 0-9 - _ */
function isLabelChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95;
}

function firstBadChar(name: string): string {
  for (const ch of name) if (ch !== '.' && !isLabelChar(ch.charCodeAt(0))) return ch;
  return '';
}

/** Upper case and Unicode. Non-ASCII goes through WHATWG/UTS-46 mapping (punycode per label). */
function foldOrIdn(name: string): string {
  const lower = name.toLowerCase();
  if (!/[^\x00-\x7f]/.test(lower)) return lower;
  const ascii = domainToASCII(lower);
  return ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
}

/**
 * A name given as text, ready to match: normalised (case, IDN) when it is a
 * host name; else read in presentation form, as the query log writes names
 * (`a\\000b.example`, `chat\\.deepseek\\.com`, `a!b.example`), and
 * given back in that form; null when it is neither.
 */
export function queryText(raw: string): string | null {
  if (!raw.includes('\\')) {
    const normal = normalizeName(raw);
    if (typeof normal === 'string') return normal;
  }
  try {
    return nameText(parseNameText(raw));
  } catch (err) {
    if (err instanceof NameTextError) return null;
    throw err;
  }
}

/** The matcher's mask for a name given as text (see queryText), matched as its bytes as the query path matches them; -1 when it is no name. */
export function matchText(matcher: Matcher, raw: string): number {
  const query = queryText(raw);
  return query === null ? -1 : matcher.matchWire(parseNameText(query), 0);
}
