// The `tcp` section: how much of the daemon one TCP client may hold. Every
// bound here is something a client controls (connections, pipelined
// queries, unread answers, how slowly it sends), so each has a limit.

import type { TcpConfig } from '../../shared/serving-config.js';
import { ConfigError, duration, integer, object, size } from './check.js';

export const TCP_DEFAULTS: Readonly<TcpConfig> = {
  maxConnections: 1024,
  maxPerClient: 32,
  maxPipelined: 100,
  idleTimeout: 10,
  messageTimeout: 5,
  maxLifetime: 300,
  maxUnsent: 256 * 1024,
  maxUnsentTotal: 32 * 1024 * 1024,
};

const KEYS = Object.keys(TCP_DEFAULTS);
/** One answer may be 64 KiB and the socket keeps 16 KiB before it pushes back: less would reset clients that do read. */
const MIN_UNSENT = 128 * 1024;

export function tcpSection(value: unknown): TcpConfig {
  const section = object('tcp', value, KEYS);
  const int = (key: keyof TcpConfig, min: number, max: number) =>
    section[key] === undefined ? TCP_DEFAULTS[key] : integer(`tcp.${key}`, section[key], min, max);
  const seconds = (key: keyof TcpConfig, min: number, max: number) =>
    section[key] === undefined ? TCP_DEFAULTS[key] : duration(`tcp.${key}`, section[key], min, max);
  const bytes = (key: keyof TcpConfig) => {
    if (section[key] === undefined) return TCP_DEFAULTS[key];
    const n = size(`tcp.${key}`, section[key]);
    if (n < MIN_UNSENT) throw new ConfigError(`tcp.${key}`, section[key], 'is under 128KB, less than two of the largest answers; write e.g. 256KB');
    return n;
  };
  const config: TcpConfig = {
    maxConnections: int('maxConnections', 1, 65_535),
    maxPerClient: int('maxPerClient', 1, 65_535),
    maxPipelined: int('maxPipelined', 1, 65_535),
    idleTimeout: seconds('idleTimeout', 0.1, 3600),
    messageTimeout: seconds('messageTimeout', 0.1, 300),
    maxLifetime: seconds('maxLifetime', 1, 86_400),
    maxUnsent: bytes('maxUnsent'),
    maxUnsentTotal: bytes('maxUnsentTotal'),
  };
  // A default never contradicts a value the admin set: it gives way to it.
  if (config.maxPerClient > config.maxConnections) {
    if (section.maxPerClient === undefined) config.maxPerClient = config.maxConnections;
    else throw new ConfigError('tcp.maxPerClient', section.maxPerClient, `is above tcp.maxConnections (${config.maxConnections}); make it smaller`);
  }
  if (config.maxUnsentTotal < config.maxUnsent) {
    if (section.maxUnsentTotal === undefined) config.maxUnsentTotal = config.maxUnsent;
    else throw new ConfigError('tcp.maxUnsentTotal', section.maxUnsentTotal, `is under tcp.maxUnsent (${config.maxUnsent} bytes); make it at least that`);
  }
  return config;
}
