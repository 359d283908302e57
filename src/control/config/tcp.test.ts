import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from './schema.js';
import { TCP_DEFAULTS } from './tcp.js';

const parse = (raw: Record<string, unknown>) => parseConfig({ upstream: { servers: ['192.0.2.53'] }, ...raw }, '/etc/aifence', () => []);

describe('tcp section', () => {
  it('has a bound for everything a TCP client controls by default', () => {
    expect(parse({}).tcp).toEqual({
      maxConnections: 1024,
      maxPerClient: 32,
      maxPipelined: 100,
      idleTimeout: 10,
      messageTimeout: 5,
      maxLifetime: 300,
      maxUnsent: 256 * 1024,
      maxUnsentTotal: 32 * 1024 * 1024,
    });
    expect(parse({ tcp: null }).tcp).toEqual(TCP_DEFAULTS);
  });

  it('is shown with its defaults in config/aifence.yaml', () => {
    const shipped = parseYaml(readFileSync(new URL('../../../config/aifence.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;
    expect(parse({ tcp: shipped.tcp }).tcp).toEqual(TCP_DEFAULTS);
  });

  it('reads durations and sizes with units', () => {
    const tcp = parse({ tcp: { idleTimeout: '30s', messageTimeout: '500ms', maxLifetime: '1h', maxUnsent: '1MB', maxUnsentTotal: '64MB', maxPipelined: 10 } }).tcp;
    expect(tcp).toMatchObject({ idleTimeout: 30, messageTimeout: 0.5, maxLifetime: 3600, maxUnsent: 1024 ** 2, maxUnsentTotal: 64 * 1024 ** 2, maxPipelined: 10 });
  });

  it('lets a default give way to a limit the admin set', () => {
    expect(parse({ tcp: { maxConnections: 10 } }).tcp.maxPerClient).toBe(10);
    expect(parse({ tcp: { maxUnsent: '64MB' } }).tcp.maxUnsentTotal).toBe(64 * 1024 ** 2);
  });

  it.each([
    [{ maxConection: 5 }, /tcp\.maxConection: 5 is under an unknown key; did you mean 'maxConnections'\?/],
    [{ maxConnections: 0 }, /tcp\.maxConnections: 0 is not a whole number from 1 to 65535/],
    [{ maxPerClient: 2.5 }, /tcp\.maxPerClient: 2\.5 is not a whole number/],
    [{ maxPipelined: -1 }, /tcp\.maxPipelined: -1 is not a whole number from 1/],
    [{ idleTimeout: '10' }, /tcp\.idleTimeout: "10" has no unit; write it with one, e\.g\. "10s"/],
    [{ messageTimeout: '0s' }, /tcp\.messageTimeout: "0s" is not a duration from 0\.1s/],
    [{ maxLifetime: '2d' }, /tcp\.maxLifetime: "2d" is not a duration from 1s to 86400s/],
    [{ maxUnsent: '64KB' }, /tcp\.maxUnsent: "64KB" is under 128KB.*write e\.g\. 256KB/],
    [{ maxUnsentTotal: 'lots' }, /tcp\.maxUnsentTotal: "lots" is not a size/],
    [{ maxConnections: 10, maxPerClient: 20 }, /tcp\.maxPerClient: 20 is above tcp\.maxConnections \(10\); make it smaller/],
    [{ maxUnsent: '1MB', maxUnsentTotal: '512KB' }, /tcp\.maxUnsentTotal: "512KB" is under tcp\.maxUnsent \(1048576 bytes\)/],
    ['fast', /tcp: "fast" is not a mapping; expected keys: maxConnections/],
  ])('rejects %j naming the key, the value and the fix', (tcp, message) => {
    expect(() => parse({ tcp })).toThrow(message);
  });
});
