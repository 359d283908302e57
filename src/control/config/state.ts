// The `state` section: where runtime state (pauses, exceptions made through
// the admin API) is shared between instances, and this instance's name in
// that state and in the query log.

import { hostname } from 'node:os';
import { ConfigError, object, string } from './check.js';

export interface StateConfig {
  /** redis:// or rediss:// URL; undefined: runtime state lives in this process only. */
  redis?: string;
  /** Prefix of every Redis key and channel, so that several fleets can share one Redis. */
  prefix: string;
  /** This instance's name (default: the host name), on every change it makes and every query-log row. */
  instance: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function stateSection(value: unknown, defaultInstance: string = hostname()): StateConfig {
  const section = object('state', value, ['redis', 'prefix', 'instance']);
  let redis: string | undefined;
  if (section.redis !== undefined) {
    redis = string('state.redis', section.redis);
    let url: URL | null = null;
    try {
      url = new URL(redis);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || !url.hostname) {
      throw new ConfigError('state.redis', section.redis, 'is not a Redis URL; write e.g. redis://10.0.0.2:6379/0 or rediss://:PASSWORD@redis.example.org:6380');
    }
  }
  const prefix = section.prefix === undefined ? 'aifence' : string('state.prefix', section.prefix);
  if (!NAME.test(prefix)) throw new ConfigError('state.prefix', prefix, 'is not a usable key prefix; use letters, digits, ".", "_" and "-" (up to 63)');
  const instance = section.instance === undefined ? defaultInstance.slice(0, 63) : string('state.instance', section.instance);
  if (!NAME.test(instance)) throw new ConfigError('state.instance', instance, 'is not a usable instance name; use letters, digits, ".", "_" and "-" (up to 63), e.g. dns-site1-a');
  return { redis, prefix, instance };
}
