// EDNS options on queries sent over an encrypted channel: TCP keepalive
// (RFC 7828: the server may say how long to keep the connection) and
// padding to a multiple of 128 octets (RFC 8467 §4.1), so that the length
// of what crosses the wire says little about the name asked.

import { readU16, writeU16 } from '../../../wire/message.js';

const BLOCK = 128;
const KEEPALIVE = 11;
const PADDING = 12;

/**
 * `query` with keepalive and padding options in its OPT record, which must
 * be its last 11 bytes with no options (as upstreamQuery writes it). A query
 * without OPT (a server that refused EDNS) is returned as it is.
 */
export function padQuery(query: Buffer): Buffer {
  if (readU16(query, 10) !== 1 || query.length < 23 || readU16(query, query.length - 2) !== 0) return query;
  const base = query.length + 4 + 4; // keepalive option (empty) + padding option header
  const pad = (BLOCK - (base % BLOCK)) % BLOCK;
  const out = Buffer.alloc(base + pad);
  query.copy(out);
  let at = query.length;
  writeU16(out, at, KEEPALIVE);
  writeU16(out, at + 2, 0);
  at += 4;
  writeU16(out, at, PADDING);
  writeU16(out, at + 2, pad);
  writeU16(out, query.length - 2, 8 + pad); // the OPT record's RDLENGTH
  return out;
}
