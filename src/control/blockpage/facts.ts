// What the block page says about one name for one client: decided by the
// same policy and tables the resolver uses (so the page never disagrees
// with the answer that brought the browser here), with the service, vendor,
// rule and group behind the verdict.
//
// The name comes from the Host header or the TLS server name, both chosen
// by whoever connects: it is taken only when it is a host name (letters,
// digits, `-`, `_`, at most 253 characters), and shown in the one
// presentation form names have everywhere (src/wire/presentation.ts).

import type { Config } from '../config/schema.js';
import type { Filter } from '../policy/filter.js';
import { REFUSED } from '../../shared/clients.js';
import { PASS } from '../../shared/filter.js';
import { nameText } from '../../wire/presentation.js';

export interface PageFacts {
  /** The name, in presentation form. */
  name: string;
  /** Blocked for this client now. */
  blocked: boolean;
  /** The client's group (its configured group, also when it has a table of its own). */
  group: string;
  /** The list that blocks the name (`service:ID` for the catalogue's, else the list's name); for a client let through by an exception of its own, the one that blocks it for its group. */
  list: string | null;
  /** What an approval opens: `service:ID` or `list:NAME`. */
  select: string | null;
  service: { id: string; name: string; vendor: string } | null;
  /** The group's rule that made the list apply (`tag:genai`), when one did. */
  rule: string | null;
  /** Blocked by `enforce`: no exception re-opens it, so there is nothing to ask for. */
  enforced: boolean;
  /** The organisation's message for this group. */
  message?: string;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * The host name in a Host header (or a TLS server name), lower-cased, as
 * wire bytes; null for anything else: an IP literal, a port alone, a name
 * over 253 characters, characters a host name has not.
 */
export function hostName(host: string | undefined): Buffer | null {
  if (host === undefined || host.length > 260) return null;
  const name = host.replace(/:\d{1,5}$/, '').replace(/\.$/, '').toLowerCase();
  if (name.length === 0 || name.length > 253 || /^[\d.]+$/.test(name)) return null;
  const labels = name.split('.');
  if (!labels.every((l) => LABEL.test(l))) return null;
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

/** The facts for `wire` (from hostName) and a client address; null when the client may not use this resolver. */
export function pageFacts(filter: Filter, config: Config, wire: Buffer, client: string, now: number): PageFacts | null {
  const { state, policy, catalogue } = filter;
  const index = state.clients.classify(client);
  if (index === REFUSED) return null;
  const group = policy.group(index);
  const name = nameText(wire);
  const mask = state.matcher.matchWire(wire, 0);
  const decision = policy.decide(index, mask, now);
  // A client with a table of its own (an approval) is still told what its group blocks, and the approval's status.
  const configured = index < policy.groups.length ? decision : policy.decide(policy.clientGroups[index - policy.groups.length].base, mask, now);
  const describe = decision.blocker !== PASS ? decision : configured;
  const message = group.config.message ?? config.blockPage?.message;
  const base = { name, group: group.name, blocked: decision.blocker !== PASS, enforced: decision.enforced === true, ...(message === undefined ? {} : { message }) };
  if (describe.blocker === PASS) return { ...base, list: null, select: null, service: null, rule: null };
  const list = state.matcher.lists[describe.blocker].name;
  const id = list.startsWith('service:') ? list.slice('service:'.length) : null;
  const s = id === null ? undefined : catalogue.services.find((x) => x.id === id);
  return {
    ...base,
    list,
    select: id === null ? `list:${list}` : list,
    service: s === undefined ? null : { id: s.id, name: s.name, vendor: s.vendor },
    rule: describe.blockRule?.select ?? null,
  };
}

/** May a certificate be made for this server name: is it blocked for some group (or some client's own table)? */
export function blockedForSomeone(filter: Filter, wire: Buffer): boolean {
  const mask = filter.state.matcher.matchWire(wire, 0);
  if (mask <= 0) return false;
  return filter.state.groups.some((g) => g.verdicts[mask] >= 0);
}
