// Certificates for the encrypted-DNS tests, made by openssl (Debian's
// openssl package): a self-signed server certificate for the names and
// addresses given, written as PEM files into `dir`.

import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCert {
  cert: string;
  key: string;
  /** SHA-256 fingerprint, to tell one certificate from another. */
  fingerprint: string;
}

export function makeCert(dir: string, prefix: string, names: { dns?: string[]; ip?: string[] }): TestCert {
  const cert = join(dir, `${prefix}-cert.pem`);
  const key = join(dir, `${prefix}-key.pem`);
  const alt = [...(names.dns ?? []).map((n) => `DNS:${n}`), ...(names.ip ?? []).map((a) => `IP:${a}`)].join(',');
  const cn = names.dns?.[0] ?? names.ip?.[0] ?? 'aifence test';
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${alt}`,
  ], { stdio: 'ignore' });
  return { cert, key, fingerprint: new X509Certificate(readFileSync(cert)).fingerprint256 };
}
