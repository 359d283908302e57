// Small typed readers for config values. Each failure names the key path,
// the value found and what would be right, which is all an admin needs.

import { closest } from '../../text/suggest.js';

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`config error at ${key || '(top level)'}: ${show(value)} ${expected}`);
    this.name = 'ConfigError';
  }
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text && text.length > 80 ? text.slice(0, 77) + '...' : String(text);
}

export const join = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;

type Plain = Record<string, unknown>;

export function isPlainObject(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An object whose keys are all known; an unknown key names the closest known one. */
export function object(path: string, value: unknown, keys: readonly string[]): Plain {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) throw new ConfigError(path, value, `is not a mapping; expected keys: ${keys.join(', ')}`);
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      const near = closest(key, keys);
      throw new ConfigError(join(path, key), value[key], `is under an unknown key${near ? `; did you mean '${near}'?` : ''} (valid: ${keys.join(', ')})`);
    }
  }
  return value;
}

export function list(path: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new ConfigError(path, value, 'is not a list; write it as [a, b] or one "- item" a line');
  return value;
}

export function string(path: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(path, value, 'is not a non-empty string');
  return value;
}

export function boolean(path: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(path, value, 'is not true or false');
  return value;
}

export function integer(path: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(path, value, `is not a whole number from ${min} to ${max}`);
  }
  return value;
}

export function oneOf<T extends string>(path: string, value: unknown, choices: readonly T[]): T {
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    throw new ConfigError(path, value, `is not one of ${choices.join(' | ')}`);
  }
  return value as T;
}

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** A duration in seconds, written as a number with a unit (500ms, 2s, 5m, 1h, 1d, 1w). */
export function duration(path: string, value: unknown, minSeconds = 0, maxSeconds = Infinity): number {
  // `timeout: 2` could mean 2 s or 2 ms; a unit says which (and the README has always asked for one).
  if (typeof value === 'number' || (typeof value === 'string' && /^\s*\d+(?:\.\d+)?\s*$/.test(value))) {
    throw new ConfigError(path, value, `has no unit; write it with one, e.g. "${String(value).trim()}s" for seconds (units: ms, s, m, h, d, w)`);
  }
  let seconds = NaN;
  if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/.exec(value);
    if (m) seconds = Number(m[1]) * UNITS[m[2]];
  }
  if (!Number.isFinite(seconds) || seconds < minSeconds || seconds > maxSeconds) {
    const range = maxSeconds === Infinity ? `at least ${minSeconds}s` : `from ${minSeconds}s to ${maxSeconds}s`;
    throw new ConfigError(path, value, `is not a duration ${range}; write a number with a unit, e.g. 500ms, 2s, 5m, 1h, 1d`);
  }
  return seconds;
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** A size in bytes: a number of bytes, or a number with a unit (512KB, 64MB, 1GB). */
export function size(path: string, value: unknown): number {
  let bytes = NaN;
  if (typeof value === 'number') bytes = value;
  else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)\s*$/i.exec(value);
    if (m) bytes = Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
  }
  if (!Number.isFinite(bytes) || bytes < 1) throw new ConfigError(path, value, 'is not a size; write bytes or a number with a unit, e.g. 512KB, 64MB, 1GB');
  return bytes;
}
