// The `groups` section: which clients form a group, what the group blocks
// and allows, exceptions that expire, rules that apply only on a schedule,
// and the group's own block answer.

import type { Cidr } from '../../net/address.js';
import type { BlockMode } from '../../wire/answers.js';
import { DEVICE_ID_RULE, deviceId } from '../../shared/device.js';
import { ConfigError, isPlainObject, join, list, object, string } from './check.js';
import { prefix } from './prefix.js';
import { pageText } from './blockpage.js';

export const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

export interface Schedule {
  /** Days of the week the rule applies, 0 = Sunday, in `timeZone`. */
  days: number[];
  /** Minutes after midnight, local time; `to` before `from` spans midnight. */
  from: number;
  to: number;
  timeZone: string;
  /** As written, for `aifence groups` and `check`. */
  text: string;
}

export interface Rule {
  select: string;
  /** Epoch milliseconds at which the rule lapses; undefined = never. */
  until?: number;
  /** `until` as written. */
  untilText?: string;
  reason?: string;
  schedule?: Schedule;
  /** How the query log names this rule when it lets a blocked name through; default `allow SELECT (REASON)`. */
  label?: string;
}

export interface GroupConfig {
  name: string;
  /** Prefixes whose clients belong to this group (empty for `default`). */
  clients: Cidr[];
  /** Device ids (DoH `/dns-query/ID`, DoT SNI `ID.NAME`) that belong to this group whatever their address. */
  devices: string[];
  block: Rule[];
  allow: Rule[];
  /** This group's block answer; undefined = `blocking.answer`. */
  answer?: BlockMode;
  /** What this group's block page says; undefined = `blockPage.message`. */
  message?: string;
  /** Set when the config has no `groups` and this is DEFAULT_POLICY. */
  builtIn?: true;
}

/** What `default` blocks when the config has no `groups` (README: "the default policy"). */
export const DEFAULT_POLICY: readonly string[] = ['service:deepseek', 'tag:cn'];

const GROUP_NAME = /^[a-z0-9][a-z0-9_-]*$/i;

/** `parseBlockMode` reads a block answer the way `blocking.answer` does. */
export function groupsSection(value: unknown, parseBlockMode: (path: string, v: unknown) => BlockMode): GroupConfig[] {
  if (value !== undefined && value !== null && !isPlainObject(value)) {
    throw new ConfigError('groups', value, 'is not a mapping of group names to { clients, block, allow, answer, message }');
  }
  // No `groups` at all: the documented default policy, not a resolver that blocks nothing.
  const entries = value === undefined || value === null ? [['default', { block: [...DEFAULT_POLICY] }] as [string, unknown]] : Object.entries(value);
  if (!entries.some(([name]) => name === 'default')) entries.unshift(['default', {}]);
  const groups = entries.map(([name, body]) => group(name, body, parseBlockMode));
  // `default` first: index 0 is where every client not matched by a prefix goes.
  groups.sort((a, b) => (a.name === 'default' ? -1 : b.name === 'default' ? 1 : 0));
  checkPrefixes(groups);
  if (value === undefined || value === null) groups[0].builtIn = true;
  return groups;
}

function group(name: string, body: unknown, parseBlockMode: (path: string, v: unknown) => BlockMode): GroupConfig {
  const path = join('groups', name);
  if (!GROUP_NAME.test(name)) throw new ConfigError(path, name, 'is not a usable group name; use letters, digits, "-" and "_"');
  const g = object(path, body, ['clients', 'devices', 'block', 'allow', 'answer', 'message']);
  if (name === 'default' && g.clients !== undefined) {
    throw new ConfigError(join(path, 'clients'), g.clients, 'is not allowed: default takes every client no other group matches');
  }
  if (name !== 'default' && g.clients === undefined && g.devices === undefined) {
    throw new ConfigError(join(path, 'clients'), undefined, 'is missing; list the prefixes of this group, e.g. [10.20.0.0/16], or its devices, e.g. devices: [alice-phone]');
  }
  const clients = g.clients === undefined ? [] : list(join(path, 'clients'), g.clients).map((c, i) => prefix(join(join(path, 'clients'), i), c, '10.20.0.0/16, 10.30.0.5 or "2001:db8:20::/48"'));
  const devices = g.devices === undefined ? [] : list(join(path, 'devices'), g.devices).map((d, i) => {
    const id = typeof d === 'string' ? deviceId(d) : null;
    if (id === null) throw new ConfigError(join(join(path, 'devices'), i), d, `is not a device id (${DEVICE_ID_RULE}), e.g. alice-phone: the last part of /dns-query/alice-phone or the first label of the DoT name alice-phone.dns.example.org`);
    return id;
  });
  return {
    name,
    clients,
    devices,
    block: rules(join(path, 'block'), g.block),
    allow: rules(join(path, 'allow'), g.allow),
    answer: g.answer === undefined ? undefined : parseBlockMode(join(path, 'answer'), g.answer),
    ...(g.message === undefined ? {} : { message: pageText(join(path, 'message'), g.message) }),
  };
}

/** Two groups claiming the same prefix or device would make membership a coin toss. */
function checkPrefixes(groups: GroupConfig[]): void {
  const holder = new Map<string, string>();
  for (const g of groups) {
    g.devices.forEach((id, i) => {
      const other = holder.get(id);
      if (other !== undefined) {
        const where = other === g.name ? 'is listed twice in this group' : `is also a device of group '${other}'`;
        throw new ConfigError(join(join(join('groups', g.name), 'devices'), i), id, `${where}; a device may belong to one group only`);
      }
      holder.set(id, g.name);
    });
  }
  const owner = new Map<string, string>();
  for (const g of groups) {
    for (const cidr of g.clients) {
      const key = `${Buffer.from(cidr.bytes).toString('hex')}/${cidr.bits}`;
      const other = owner.get(key);
      if (other !== undefined) {
        throw new ConfigError(join(join('groups', g.name), 'clients'), cidr.text, `is also a prefix of group '${other}'; a prefix may belong to one group only (a longer prefix inside it may belong to another)`);
      }
      owner.set(key, g.name);
    }
  }
}

function rules(path: string, value: unknown): Rule[] {
  if (value === undefined) return [];
  return list(path, value).map((item, i) => rule(join(path, i), item));
}

function rule(path: string, item: unknown): Rule {
  if (typeof item === 'string') return { select: string(path, item) };
  const r = object(path, item, ['select', 'until', 'reason', 'schedule']);
  const out: Rule = { select: string(join(path, 'select'), r.select) };
  if (r.until !== undefined) {
    out.until = untilTime(join(path, 'until'), r.until);
    out.untilText = r.until instanceof Date ? r.until.toISOString() : String(r.until);
  }
  if (r.reason !== undefined) out.reason = string(join(path, 'reason'), r.reason);
  if (r.schedule !== undefined) out.schedule = schedule(join(path, 'schedule'), r.schedule);
  return out;
}

/**
 * `2027-03-31` lapses at the end of that day (UTC); a full ISO date-time
 * with an offset (`2027-03-31T18:00:00+02:00`) lapses at that instant.
 */
export function untilTime(path: string, value: unknown): number {
  const text = value instanceof Date ? value.toISOString() : typeof value === 'string' ? value : '';
  const dateOnly = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  let time = NaN;
  if (dateOnly) {
    const [y, m, d] = dateOnly.slice(1).map(Number);
    const start = Date.UTC(y, m - 1, d);
    const check = new Date(start);
    if (check.getUTCFullYear() === y && check.getUTCMonth() === m - 1 && check.getUTCDate() === d) time = start + 86_400_000;
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text)) {
    time = Date.parse(text);
  }
  if (!Number.isFinite(time)) {
    throw new ConfigError(path, value, 'is not a date; write YYYY-MM-DD (lapses at the end of that day, UTC) or an ISO date-time with offset, e.g. 2027-03-31T18:00:00+02:00');
  }
  return time;
}

function schedule(path: string, value: unknown): Schedule {
  const s = object(path, value, ['days', 'from', 'to', 'timezone']);
  const days = (s.days === undefined ? ['mon', 'tue', 'wed', 'thu', 'fri'] : list(join(path, 'days'), s.days)).map((d, i) => {
    const index = DAYS.indexOf(String(d).toLowerCase().slice(0, 3) as (typeof DAYS)[number]);
    if (typeof d !== 'string' || index < 0) throw new ConfigError(join(join(path, 'days'), i), d, `is not a day; use ${DAYS.join(', ')}`);
    return index;
  });
  const from = clock(join(path, 'from'), s.from ?? '00:00');
  const to = clock(join(path, 'to'), s.to ?? '24:00');
  const timeZone = s.timezone === undefined ? 'UTC' : string(join(path, 'timezone'), s.timezone);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new ConfigError(join(path, 'timezone'), timeZone, 'is not an IANA time zone, e.g. Europe/Brussels, Asia/Seoul or UTC');
  }
  if (from === to) throw new ConfigError(join(path, 'to'), s.to, 'equals from; the window would be empty');
  const text = `${days.map((d) => DAYS[d]).join(',')} ${s.from ?? '00:00'}-${s.to ?? '24:00'} ${timeZone}`;
  return { days, from, to, timeZone, text };
}

function clock(path: string, value: unknown): number {
  const m = typeof value === 'string' ? /^(\d{1,2}):(\d{2})$/.exec(value) : null;
  const minutes = m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  if (!m || Number(m[2]) > 59 || minutes > 24 * 60) throw new ConfigError(path, value, 'is not a time of day; write HH:MM, e.g. "08:00" or "18:30"');
  return minutes;
}
