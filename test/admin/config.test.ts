// The `admin` config section: names accepted in Host, and errors that name
// the key, the value and the fix.

import { describe, expect, it } from 'vitest';
import { adminSection } from '../../src/control/config/admin.js';

const noEnv = {};

describe('admin config', () => {
  it('reads admin.hosts as lower-case names without a trailing dot', () => {
    expect(adminSection({ hosts: ['Resolver1.Corp', 'dns.example.'] }, noEnv).hosts).toEqual(['resolver1.corp', 'dns.example']);
    expect(adminSection({}, noEnv)).toEqual({ listen: { host: '127.0.0.1', port: 8053, family: 4 }, token: undefined, hosts: [] });
  });

  it('refuses hosts that are not names, saying what to write', () => {
    expect(() => adminSection({ hosts: 'resolver1.corp' }, noEnv)).toThrow(/admin\.hosts: "resolver1\.corp" is not a list/);
    expect(() => adminSection({ hosts: ['10.0.0.53'] }, noEnv)).toThrow(/admin\.hosts\[0\]: "10\.0\.0\.53" is an IP address; IP addresses are always accepted/);
    expect(() => adminSection({ hosts: ['ok.corp', 'resolver1.corp:8053'] }, noEnv)).toThrow(/admin\.hosts\[1\]: "resolver1\.corp:8053" is not a host name without a port/);
    expect(() => adminSection({ hosts: ['*.corp'] }, noEnv)).toThrow(/admin\.hosts\[0\]/);
  });

  it('still refuses a listener beyond loopback without a configured token', () => {
    expect(() => adminSection({ listen: '0.0.0.0:8053' }, noEnv)).toThrow(/admin\.listen: "0\.0\.0\.0:8053" listens beyond loopback without a token/);
    expect(adminSection({ listen: '0.0.0.0:8053' }, { AIFENCE_ADMIN_TOKEN: 'from-env-token' }).token).toBe('from-env-token');
  });
});
