import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasTool } from '../../../test/support/tools.js';
import { Certificates, loadCa } from './certs.js';

const dir = mkdtempSync(join(tmpdir(), 'aifence-certs-'));
const cert = join(dir, 'ca.pem');
const key = join(dir, 'ca-key.pem');

describe.runIf(hasTool('openssl'))('the block page certificates', () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=test CA', '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'ignore' });

  it('refuses a CA key others can read, naming the file and the fix, never its contents', () => {
    chmodSync(key, 0o644);
    expect(() => loadCa({ cert, key })).toThrow(/blockPage\.ca\.key .*ca-key\.pem can be read by others \(mode 644\).*chmod 600/);
    try {
      loadCa({ cert, key });
    } catch (err) {
      expect((err as Error).message).not.toContain('PRIVATE KEY');
    }
    chmodSync(key, 0o600);
    expect(loadCa({ cert, key }).signer.keyId.length).toBe(20);
    expect(() => loadCa({ cert, key: join(dir, 'missing.pem') })).toThrow('cannot be read (ENOENT)');
  });

  it('keeps at most maxCached leaves, the least recently used going first, and mints within its rate', () => {
    let now = Date.parse('2026-12-07T09:00:00Z');
    const minted: string[] = [];
    const certs = new Certificates(loadCa({ cert, key }), { defaultNames: { dns: [], ip: ['10.0.0.53'] }, mayMint: (n) => (minted.push(n), !n.endsWith('.example.org')), clock: () => now, maxCached: 10 });
    const hot = certs.contextFor('hot.chat.deepseek.com');
    for (let i = 0; i < 50; i++) {
      certs.contextFor(`n${i}.chat.deepseek.com`);
      expect(certs.contextFor('hot.chat.deepseek.com')).toBe(hot); // used again: kept
      now += 100;
    }
    expect(certs.size).toBe(10);
    expect(certs.stats.minted).toBe(51);
    // Not blocked, or not a host name: the default certificate, nothing minted.
    expect(certs.contextFor('www.example.org')).toBe(certs.defaultContext);
    expect(certs.contextFor('bad name\u0000.chat.deepseek.com')).toBe(certs.defaultContext);
    expect(minted).not.toContain('bad name\u0000.chat.deepseek.com');
    // A flood of new names at one instant: 100 at once, then the default certificate.
    for (let i = 0; i < 400; i++) certs.contextFor(`flood${i}.chat.deepseek.com`);
    expect(certs.stats.minted).toBeLessThanOrEqual(51 + 100);
    expect(certs.stats.refused).toBeGreaterThanOrEqual(299);
    // Half a validity on, a cached leaf is made anew.
    const before = certs.contextFor('hot.chat.deepseek.com');
    now += 25 * 3_600_000;
    expect(certs.contextFor('hot.chat.deepseek.com')).not.toBe(before);
  });
});
