// The `admin` config section: names accepted in Host, and errors that name
// the key, the value and the fix.

import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adminSection } from '../../src/control/config/admin.js';

const noEnv = {};

describe('admin config', () => {
  it('reads admin.hosts as lower-case names without a trailing dot', () => {
    expect(adminSection({ hosts: ['Resolver1.Corp', 'dns.example.'] }, noEnv).hosts).toEqual(['resolver1.corp', 'dns.example']);
    expect(adminSection({}, noEnv)).toEqual({ listen: { host: '127.0.0.1', port: 8053, family: 4 }, token: undefined, tokens: [], hosts: [] });
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
    expect(adminSection({ listen: '0.0.0.0:8053', tokens: { alice: { sha256: 'ab'.repeat(32) } } }, noEnv).tokens).toEqual([{ name: 'alice', sha256: Buffer.from('ab'.repeat(32), 'hex') }]);
  });

  it('reads named tokens, and names the key, the value and the fix when one is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-tokens-'));
    writeFileSync(join(dir, 'bob.token'), 'bob-token-from-a-secret-file\n');
    writeFileSync(join(dir, 'short.token'), 'short\n');
    const bob = adminSection({ tokens: { bob: { file: 'bob.token' } } }, noEnv, dir).tokens[0];
    expect(bob).toEqual({ name: 'bob', sha256: createHash('sha256').update('bob-token-from-a-secret-file').digest() });
    expect(() => adminSection({ tokens: { alice: { sha256: 'abc' } } }, noEnv)).toThrow(/admin\.tokens\.alice\.sha256: "abc" is not a SHA-256 in hex .*aifence admin token --name NAME/);
    expect(() => adminSection({ tokens: { alice: {} } }, noEnv)).toThrow(/admin\.tokens\.alice: \{\} needs exactly one of sha256 .* or file/);
    expect(() => adminSection({ tokens: { 'al ice': { sha256: 'ab'.repeat(32) } } }, noEnv)).toThrow(/admin\.tokens\.al ice: "al ice" is not an admin name/);
    expect(() => adminSection({ tokens: { bob: { file: 'none.token' } } }, noEnv, dir)).toThrow(/admin\.tokens\.bob\.file: .*none\.token" cannot be read as a token file \(ENOENT\)/);
    expect(() => adminSection({ tokens: { bob: { file: 'short.token' } } }, noEnv, dir)).toThrow(/does not hold a token of at least 16 printable characters/);
    expect(() => adminSection({ tokens: { alice: { sha256: 'ab'.repeat(32), pasword: 'x' } } }, noEnv)).toThrow(/admin\.tokens\.alice\.pasword: .* unknown key/);
  });
});
