// Discovery of Designated Resolvers (RFC 9462): a client that asks
// `_dns.resolver.arpa` SVCB learns which encrypted endpoints this resolver
// serves, and upgrades to them. aifence answers for itself (the name is
// special-use: never forwarded), so a client that upgrades is still filtered.

import { addressBytes } from '../net/address.js';
import { encodeName, ownAnswer, record } from './answers.js';
import { type Query, Type, equalsIgnoreCase } from './message.js';

export const DDR_NAME = '_dns.resolver.arpa';
const DDR_WIRE = encodeName(DDR_NAME);
/** How long clients may keep the designation: it changes only with the config. */
const DDR_TTL = 300;
/** RFC 8484 §4.1 URI template for GET, as RFC 9461 §5 wants it in dohpath. */
const DOH_PATH_TEMPLATE = '/dns-query{?dns}';

const enum Key {
  Alpn = 1,
  Port = 3,
  Ipv4Hint = 4,
  Ipv6Hint = 6,
  DohPath = 7,
}

export interface DdrEndpoint {
  kind: 'dot' | 'doh';
  port: number;
}

/** The SVCB answers for `_dns.resolver.arpa`, prepared once per config. */
export class DdrAnswers {
  private readonly records: Uint8Array[];

  /** `target`: the name the certificate carries; `hints`: the listeners' own addresses (none for wildcard listeners). */
  constructor(endpoints: readonly DdrEndpoint[], target: string, hints: readonly string[]) {
    this.records = endpoints.map((e, i) => record(Type.SVCB, DDR_TTL, svcb(i + 1, target, e, hints)));
  }

  /** SVCB: the endpoints; any other type: NODATA (the name exists, with SVCB only). */
  answer(query: Uint8Array, q: Query): Buffer {
    return ownAnswer(query, q, q.qtype === Type.SVCB ? this.records : []);
  }
}

/** Is the question `_dns.resolver.arpa` (any case)? */
export function isDdrQuestion(msg: Uint8Array, q: Query): boolean {
  return q.questionEnd - 16 === DDR_WIRE.length && equalsIgnoreCase(msg, 12, DDR_WIRE, 0, DDR_WIRE.length);
}

function svcb(priority: number, target: string, endpoint: DdrEndpoint, hints: readonly string[]): Uint8Array {
  const params: [number, Uint8Array][] = [];
  const alpn = endpoint.kind === 'dot' ? ['dot'] : ['h2', 'http/1.1'];
  params.push([Key.Alpn, Buffer.concat(alpn.map((a) => Buffer.concat([Buffer.from([a.length]), Buffer.from(a, 'ascii')])))]);
  params.push([Key.Port, Buffer.from([endpoint.port >> 8, endpoint.port & 0xff])]);
  const v4 = hints.filter((h) => !h.includes(':')).map((h) => addressBytes(h)!.subarray(12));
  const v6 = hints.filter((h) => h.includes(':')).map((h) => addressBytes(h)!);
  if (v4.length > 0) params.push([Key.Ipv4Hint, Buffer.concat(v4)]);
  if (v6.length > 0) params.push([Key.Ipv6Hint, Buffer.concat(v6)]);
  if (endpoint.kind === 'doh') params.push([Key.DohPath, Buffer.from(DOH_PATH_TEMPLATE, 'utf8')]);
  const parts: Uint8Array[] = [Buffer.from([priority >> 8, priority & 0xff]), encodeName(target)];
  for (const [key, value] of params) parts.push(Buffer.from([key >> 8, key & 0xff, value.length >> 8, value.length & 0xff]), value);
  return Buffer.concat(parts);
}
