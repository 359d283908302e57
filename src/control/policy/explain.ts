// Explaining a verdict: which group, rule and list line decided a name for
// a client, decided exactly as the query path decides it. Used by `aifence
// check` and the admin API's /check.

import type { Rule } from '../config/schema.js';
import { matchText, normalizeName } from '../../match/name.js';
import { NameTextError, nameText, parseNameText } from '../../wire/presentation.js';
import type { Explanation } from '../../match/types.js';
import { addressBytes } from '../../net/address.js';
import { type ClientClassifier, REFUSED } from '../../shared/clients.js';
import { deviceId } from '../../shared/device.js';
import type { Identity } from '../identity/identity.js';
import { PASS } from '../../shared/filter.js';
import type { Filter } from './filter.js';

export interface RuleView {
  select: string;
  until?: string;
  reason?: string;
  schedule?: string;
}

export interface CheckResult {
  name: string;
  verdict: 'blocked' | 'allowed' | 'refused';
  group: string | null;
  /** The list that decided (the blocking list, or the one whose allow entry lifted a block). */
  list: string | null;
  line: number | null;
  entry: string | null;
  service: string | null;
  /** The group rule that made the blocking list apply. */
  rule: RuleView | null;
  /** The allow rule (exception) that lifted a block, with its expiry or schedule. */
  exception: RuleView | null;
  /** Present when blocking is paused for the client's group (POST /pause). */
  paused?: true;
  /** Present when `enforce` blocks the name: no group rule, exception or pause re-opens it (`rule` names the enforce selector). */
  enforced?: true;
  /** Present when the client was given by name: what it was read as (`alice-laptop: lease of 10.0.0.5`). */
  client?: string;
}

/** A name to check that is not a usable domain name; the message names the input. */
export class CheckInputError extends Error {}

/**
 * What to check for one input: the name itself, or the host of a URL (with
 * a note saying so). Throws CheckInputError naming the input when there is
 * no usable name: empty, `bad..name`, a label over 63 octets, an address.
 * A name that is no host name but is printable is read in presentation
 * form, as the query log writes it (`a\000b.chat.deepseek.com`,
 * `chat\.deepseek\.com`, `a!b.example`; `/` written `\047`): it is
 * checked as those exact bytes and named in the same form.
 */
export function checkTarget(input: string): { name: string; note?: string } {
  let name = input.trim();
  let note: string | undefined;
  if (name.includes('/') && !name.includes('\\')) {
    let host = '';
    try {
      host = new URL(name.includes('://') ? name : `http://${name}`).hostname;
    } catch {
      // no host: reported below
    }
    if (host === '') throw new CheckInputError(`${JSON.stringify(input)} is a URL without a host name`);
    note = `${JSON.stringify(input)} is a URL: checking its host ${host}`;
    name = host;
  }
  const valid = normalizeName(name);
  if (typeof valid === 'string') return note === undefined ? { name } : { name, note };
  if (note === undefined && valid.reason.startsWith('invalid character') && /^[\x21-\x7e]+$/.test(name)) {
    try {
      return { name: nameText(parseNameText(name)) };
    } catch (err) {
      if (!(err instanceof NameTextError)) throw err;
      if (name.includes('\\')) throw new CheckInputError(err.message);
    }
  }
  throw new CheckInputError(`${JSON.stringify(input)} is not a domain name: ${valid.reason}`);
}

/** Who to decide for: an address (its group, its access), a device id (the group that lists it wins), or both. */
export interface CheckClient {
  address: string | null;
  device: string | null;
  /** How a name was read, for the answer; absent for an address. */
  note?: string;
}

/**
 * The client to decide for, from what was given: an IPv4 or IPv6 address; a
 * device id a group lists (`devices:`); or a host name the identity table
 * knows now (a static name or a lease in force; the newest lease when
 * several). A name that is both a device id and a host name is both: the
 * device decides the group, the host's address access. Anything else is a
 * CheckInputError naming it.
 */
export function checkClient(input: string, clients?: ClientClassifier, identity?: Identity | null, now = Date.now()): CheckClient {
  if (addressBytes(input) !== null) return { address: input, device: null };
  const id = deviceId(input);
  const device = id !== null && clients !== undefined && clients.device(id) !== REFUSED ? id : null;
  const hosts = identity?.addressesOf(input, now) ?? [];
  if (device === null && hosts.length === 0) {
    throw new CheckInputError(
      `client ${JSON.stringify(input)} is not an IP address (e.g. 10.0.0.5 or 2001:db8::5), a device id a group lists (groups.NAME.devices), or a host name identity knows now (identity.hosts, a lease in force in identity.leases)`,
    );
  }
  const read: string[] = [];
  if (device !== null) read.push(`device id`);
  if (hosts.length > 0) {
    const more = hosts.length > 1 ? ` (also ${hosts.slice(1, 4).map((h) => h.address).join(', ')}${hosts.length > 4 ? ', …' : ''})` : '';
    read.push(`${hosts[0].source === 'hosts' ? 'static name' : 'lease'} of ${hosts[0].address}${more}`);
  }
  return { address: hosts[0]?.address ?? null, device, note: `${input}: ${read.join(', ')}` };
}

/** The group index the query path would give this client: by address (or REFUSED), then by device when a group lists it. */
function groupOf(clients: ClientClassifier, who: CheckClient): number {
  let group = who.address === null ? 0 : clients.classify(who.address);
  if (group === REFUSED) return REFUSED;
  if (who.device !== null && clients.device(who.device) !== REFUSED) group = clients.device(who.device);
  return group;
}

const view = (r: Rule | undefined): RuleView | null =>
  r === undefined ? null : { select: r.select, until: r.untilText, reason: r.reason, schedule: r.schedule?.text };

/** The verdict for one name and client, decided exactly as the daemon decides it, with what decided. */
export async function checkName(filter: Filter, name: string, client: string | CheckClient = '127.0.0.1', now = Date.now()): Promise<CheckResult> {
  return (await checkNames(filter, [name], client, now))[0];
}

/**
 * checkName for many names at once. Verdicts are decided here (a table read
 * each); the entries behind them are found in one batch (see ListSet.explainAll),
 * so each list is read at most once for all the names.
 */
export async function checkNames(filter: Filter, names: readonly string[], client: string | CheckClient = '127.0.0.1', now = Date.now()): Promise<CheckResult[]> {
  const { policy } = filter;
  const { matcher, clients } = filter.state;
  const who: CheckClient = typeof client === 'string' ? { address: client, device: null } : client;
  const noted = who.note === undefined ? {} : { client: who.note };
  const groupIndex = groupOf(clients, who);
  if (groupIndex === REFUSED) {
    return names.map((name) => ({ name, verdict: 'refused', group: null, list: null, line: null, entry: null, service: null, rule: null, exception: null, ...noted }));
  }
  const decisions = names.map((name) => {
    const mask = matchText(matcher, name);
    return { name, mask, decision: policy.decide(groupIndex, mask, now) };
  });
  // Only a list that decided needs its entry found.
  const asked = decisions.flatMap((d, i) => (d.mask > 0 && (d.decision.blocker !== PASS || d.decision.allowList !== undefined) ? [i] : []));
  const found = asked.length > 0 ? await filter.lists.explainAll(asked.map((i) => names[i])) : [];
  const explained: Explanation[][] = [];
  asked.forEach((i, k) => (explained[i] = found[k]));
  return decisions.map(({ name, decision }, i) => {
    let decider: Explanation | undefined;
    if (decision.blocker !== PASS) {
      const list = matcher.lists[decision.blocker].name;
      decider = explained[i]?.find((e) => e.list === list && !e.allow);
    } else if (decision.allowList !== undefined) {
      decider = explained[i]?.find((e) => e.list === matcher.lists[decision.allowList!].name && e.allow);
    }
    const list = decider?.list ?? null;
    return {
      name,
      verdict: decision.blocker === PASS ? 'allowed' : 'blocked',
      group: policy.group(groupIndex).name,
      list,
      line: decider?.line ?? null,
      entry: decider?.entry ?? null,
      service: list?.startsWith('service:') ? list.slice('service:'.length) : null,
      rule: view(decision.blockRule),
      exception: view(decision.allowRule),
      ...(decision.paused ? { paused: true as const } : {}),
      ...(decision.enforced ? { enforced: true as const } : {}),
      ...noted,
    } satisfies CheckResult;
  });
}

