// The runtime state as stored (the two Redis hashes, or their copy in
// dataDir) and what of it this instance enforces: every entry is parsed and
// checked by the admin API's rules (rules.ts) against the live policy; one
// that fails is ignored, with the reason kept for the log and the metrics.

import { MAX_EXCEPTIONS, type PolicyView, type RuntimeException, exceptionProblem, pauseProblem } from './rules.js';
import { MAX_VALUE_BYTES } from './scripts.js';

/** The hashes as read: field to value; null for a value too large to be read. */
export interface StoredHashes {
  pauses: Record<string, string | null>;
  exceptions: Record<string, string | null>;
}

export const noHashes = (): StoredHashes => ({ pauses: {}, exceptions: {} });

/** An entry this instance does not enforce, and why. */
export interface Ignored {
  hash: 'pauses' | 'exceptions';
  field: string;
  /** The value as stored, cut short for the log. */
  value: string;
  why: string;
}

export interface Judged {
  /** Pauses in force, by group. */
  pauses: Map<string, number>;
  /** Exceptions in force, by id. */
  exceptions: Map<string, RuntimeException>;
  /** Every exception that parses, in force or not (revoking one not in force still finds it). */
  readable: Map<string, RuntimeException>;
  /** Ids of exceptions past their expiry: removed from Redis by whoever sees them. */
  lapsed: string[];
  /** Entries not enforced, by a key made of the entry's field and value (so that each is reported once). */
  ignored: Map<string, Ignored>;
}

/** What of `stored` this instance enforces `now` under `policy`. */
export function judge(stored: StoredHashes, now: number, policy: PolicyView): Judged {
  const judged: Judged = { pauses: new Map(), exceptions: new Map(), readable: new Map(), lapsed: [], ignored: new Map() };
  const ignore = (hash: Ignored['hash'], field: string, value: string | null, why: string) => {
    const shown = value === null ? `(over ${MAX_VALUE_BYTES} bytes)` : value.length > 200 ? `${value.slice(0, 200)}...` : value;
    judged.ignored.set(`${hash}\u0000${field}\u0000${value ?? ''}`, { hash, field, value: shown, why });
  };
  for (const [group, text] of Object.entries(stored.pauses)) {
    const until = text !== null && /^\d{1,16}(\.\d+)?$/.test(text) ? Number(text) : NaN;
    if (until <= now) continue; // over
    const problem = pauseProblem(group, until, now, policy);
    if (problem === null) judged.pauses.set(group, until);
    else ignore('pauses', group, text, problem);
  }
  const valid: RuntimeException[] = [];
  for (const [id, text] of Object.entries(stored.exceptions)) {
    const e = text === null ? null : parseException(id, text);
    if (e === null) {
      ignore('exceptions', id, text, 'is not a runtime exception as aifence stores one (JSON with id, group, select, until, reason, author, instance, created)');
      continue;
    }
    judged.readable.set(id, e);
    if (e.until <= now) {
      judged.lapsed.push(id);
      continue;
    }
    const problem = exceptionProblem(e, now, policy);
    if (problem === null) valid.push(e);
    else ignore('exceptions', id, text, problem);
  }
  // More than the cap can only have been written past the API: the oldest are kept, as the API would have.
  valid.sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
  valid.forEach((e, i) => {
    if (i < MAX_EXCEPTIONS) judged.exceptions.set(e.id, e);
    else ignore('exceptions', e.id, stored.exceptions[e.id], `is over the cap of ${MAX_EXCEPTIONS} exceptions in force`);
  });
  return judged;
}

/**
 * An exception as stored. One for a single client is stored with the group
 * `GROUP@ADDRESS`, a group no instance has: an instance that does not know
 * client exceptions (an older one, in a rolling upgrade) enforces it nowhere
 * rather than for the whole group.
 */
export function storedException(e: RuntimeException): string {
  return JSON.stringify(e.client === undefined ? e : { ...e, group: `${e.group}@${e.client}` });
}

function parseException(id: string, text: string): RuntimeException | null {
  if (text.length > MAX_VALUE_BYTES) return null;
  try {
    const e = JSON.parse(text) as Partial<RuntimeException>;
    if (typeof e !== 'object' || e === null) return null;
    const str = (v: unknown) => typeof v === 'string' && v.length <= 1000;
    if (e.id !== id || !str(e.group) || !str(e.select) || !str(e.reason) || !str(e.author) || !str(e.instance)) return null;
    if (typeof e.until !== 'number' || typeof e.created !== 'number') return null;
    const { select, until, reason, author, instance, created } = e as RuntimeException;
    const at = e.group!.indexOf('@');
    if (at < 0 && e.client === undefined) return { id, group: e.group!, select, until, reason, author, instance, created };
    // A client exception: the group carries the address, and the two agree.
    const client = e.group!.slice(at + 1);
    if (at < 0 || e.client !== client) return null;
    return { id, group: e.group!.slice(0, at), select, until, reason, author, instance, created, client };
  } catch {
    return null;
  }
}

/** Stored hashes from a flat HGETALL-style list ([field, value|null, ...]). */
export function fromFlat(list: unknown): Record<string, string | null> {
  // No prototype: a field named __proto__ is a field like any other.
  const out = Object.create(null) as Record<string, string | null>;
  if (!Array.isArray(list)) return out;
  for (let i = 0; i + 1 < list.length; i += 2) {
    const value = list[i + 1];
    out[String(list[i])] = typeof value === 'string' ? value : null;
  }
  return out;
}

/** Same fields with the same values. */
export function sameHashes(a: StoredHashes, b: StoredHashes): boolean {
  return sameRecord(a.pauses, b.pauses) && sameRecord(a.exceptions, b.exceptions);
}

function sameRecord(a: Record<string, string | null>, b: Record<string, string | null>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}
