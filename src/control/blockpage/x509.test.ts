import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasTool } from '../../../test/support/tools.js';
import { caSigner, issue, pem } from './x509.js';

const dir = mkdtempSync(join(tmpdir(), 'aifence-x509-'));
const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** A CA made by openssl the way docs/block-page.md says, with `keyArgs` choosing its key. */
function makeCa(name: string, keyArgs: string[]): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  openssl('req', '-x509', ...keyArgs, '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/O=Example Ministry/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  return { cert, key };
}

function leaf(ca: { cert: string; key: string }, dns: string[]): string {
  const signer = caSigner(readFileSync(ca.cert, 'utf8'), createPrivateKey(readFileSync(ca.key)));
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const now = Date.now();
  const file = join(dir, `leaf-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(file, pem(issue(signer, { dns, ip: [], publicKey, notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000) })));
  return file;
}

describe.runIf(hasTool('openssl'))('leaf certificates openssl accepts as a server certificate', () => {
  for (const [kind, keyArgs] of [
    ['EC P-256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']],
    ['EC P-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1']],
    ['RSA 2048', ['-newkey', 'rsa:2048']],
  ] as const) {
    it(`from an ${kind} CA, for the name asked and no other`, () => {
      const ca = makeCa(kind.replace(/\W/g, ''), [...keyArgs]);
      const cert = leaf(ca, ['chat.deepseek.com']);
      const verify = (host: string) => openssl('verify', '-x509_strict', '-purpose', 'sslserver', '-verify_hostname', host, '-CAfile', ca.cert, cert);
      expect(verify('chat.deepseek.com')).toContain(': OK');
      expect(() => verify('deepseek.com')).toThrow();
      const text = openssl('x509', '-in', cert, '-noout', '-text');
      expect(text).toContain('CA:FALSE');
      expect(text).toContain('TLS Web Server Authentication');
      expect(text).toMatch(/Issuer: O = Example Ministry, CN = /);
    });
  }

  it('names longer than a CN may be carry no CN and a critical subjectAltName', () => {
    const ca = makeCa('longnames', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']);
    const long = `${'a'.repeat(63)}.${'b'.repeat(20)}.chat.deepseek.com`;
    const cert = leaf(ca, [long]);
    expect(openssl('verify', '-x509_strict', '-purpose', 'sslserver', '-verify_hostname', long, '-CAfile', ca.cert, cert)).toContain(': OK');
    expect(openssl('x509', '-in', cert, '-noout', '-text')).toMatch(/Subject Alternative Name: critical/);
  });

  it('refuses a certificate that is no CA, and a key that is not its own', () => {
    const ca = makeCa('realca', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']);
    const other = makeCa('otherca', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']);
    expect(() => caSigner(readFileSync(ca.cert, 'utf8'), createPrivateKey(readFileSync(other.key)))).toThrow('does not belong to the key');
    const plain = join(dir, 'plain.pem');
    const plainKey = join(dir, 'plain-key.pem');
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', plainKey, '-out', plain, '-days', '1', '-subj', '/CN=not a ca', '-addext', 'basicConstraints=critical,CA:FALSE');
    expect(() => caSigner(readFileSync(plain, 'utf8'), createPrivateKey(readFileSync(plainKey)))).toThrow('is not a CA certificate');
  });
});
