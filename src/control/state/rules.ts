// The admin API's rules for pauses and runtime exceptions, in one place: the
// API checks a request by them, and every instance checks by them again what
// it reads back from Redis (or from its snapshot in dataDir). Whoever can
// write to Redis gets no more than a token holder: no pause beyond 7 days, no
// exception beyond 90 days or for a group or selector this instance does not
// know, no text that is not one short line.

import { ConfigError, string } from '../config/check.js';
import { clientAddress } from '../../net/address.js';

/** At most this many runtime exceptions in force, fleet-wide: they grow memory and the verdict tables. */
export const MAX_EXCEPTIONS = 500;
/** Runtime exceptions are for "until the ticket is sorted out"; a longer one belongs in the config, reviewed. */
export const MAX_EXCEPTION_SECONDS = 90 * 86400;
/** The longest pause `POST /pause?minutes=` takes. */
export const MAX_PAUSE_MINUTES = 7 * 24 * 60;
/** Reasons and authors as given: one line of at most this many characters. */
export const MAX_TEXT = 500;
/** An author as stored: a named admin's name before the one given ("alice for bob"). */
const MAX_AUTHOR = MAX_TEXT + 100;
/**
 * Instances' clocks differ a little: an entry made at the limit on one must
 * still be in force on another whose clock is behind. Five minutes is far
 * more than NTP leaves and far less than anything the limits are about.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** Exception ids as `addException` makes them. */
export const EXCEPTION_ID = /^[0-9a-f]{12}$/;
/** Instance names (state.instance). */
export const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** A reason or author: one line, not empty, at most `max` characters. */
export function oneLine(path: string, value: unknown, max = MAX_TEXT): string {
  const s = string(path, value).trim();
  if (s.length === 0) throw new ConfigError(path, value, 'is empty; say what and why, e.g. "ticket 4711: legal team evaluation"');
  if (s.length > max || /[\u0000-\u001f\u007f]/.test(s)) throw new ConfigError(path, value, `must be one line of at most ${max} characters`);
  return s;
}

/** What the rules need of the live policy: its groups, and whether a selector names something. */
export interface PolicyView {
  readonly groups: readonly { readonly name: string }[];
  /** Throws when `select` names nothing in this configuration and catalogue. */
  checkSelector(select: string): void;
}

/** A runtime exception as stored, in Redis and in the snapshot. */
export interface RuntimeException {
  id: string;
  group: string;
  select: string;
  /** Epoch ms at which it lapses by itself. */
  until: number;
  reason: string;
  author: string;
  /** The instance it was made on. */
  instance: string;
  created: number;
  /** For this one client only (an approved access request); absent: the whole group. */
  client?: string;
}

/** Why a stored pause is not to be enforced by this instance, or null when it is (a lapsed one is simply over). */
export function pauseProblem(group: string, until: number, now: number, policy: PolicyView): string | null {
  if (!Number.isFinite(until)) return `until ${until} is not a time in milliseconds`;
  if (!policy.groups.some((g) => g.name === group)) return `group '${group}' is not a group of this instance`;
  if (until > now + MAX_PAUSE_MINUTES * 60_000 + CLOCK_SKEW_MS) return `pause until ${iso(until)} is more than ${MAX_PAUSE_MINUTES} minutes (7 days) ahead`;
  return null;
}

/** Why a stored exception is not to be enforced by this instance, or null when it is. */
export function exceptionProblem(e: RuntimeException, now: number, policy: PolicyView): string | null {
  if (!EXCEPTION_ID.test(e.id)) return `id '${e.id}' is not 12 hex digits`;
  if (!Number.isFinite(e.until)) return `until ${e.until} is not a time in milliseconds`;
  const span = MAX_EXCEPTION_SECONDS * 1000 + CLOCK_SKEW_MS;
  if (e.until > now + span) return `until ${iso(e.until)} is more than 90 days ahead`;
  if (!Number.isFinite(e.created) || e.created > now + CLOCK_SKEW_MS || e.until - e.created > span) return `created ${e.created} is not a time up to 90 days before its expiry`;
  if (!policy.groups.some((g) => g.name === e.group)) return `group '${e.group}' is not a group of this instance`;
  if (e.client !== undefined && clientAddress(e.client) !== e.client) return `client '${e.client}' is not an IP address`;
  if (!INSTANCE_NAME.test(e.instance)) return `instance '${e.instance}' is not an instance name`;
  try {
    oneLine('reason', e.reason);
    oneLine('author', e.author, MAX_AUTHOR);
    policy.checkSelector(e.select);
  } catch (err) {
    return (err as Error).message.replace(/^config error at /, '');
  }
  return null;
}

/** A time for a log line; one out of Date's range as the number it is. */
function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}
