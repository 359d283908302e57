// Certificates for the encrypted-DNS tests, made by openssl (Debian's
// openssl package): a self-signed server certificate for the names and
// addresses given, written as PEM files into `dir`.

import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
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

export interface TestCa {
  cert: string;
  key: string;
}

/** An organisation CA as an admin makes one with openssl (docs/block-page.md): EC P-256, CA:TRUE, key mode 0600. */
export function makeCa(dir: string, name = 'aifence test CA'): TestCa {
  const cert = join(dir, 'ca.pem');
  const key = join(dir, 'ca-key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', `/O=aifence tests/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ], { stdio: 'ignore' });
  chmodSync(key, 0o600);
  return { cert, key };
}

/** A server certificate for the names and addresses given, issued by `ca` (for listeners a browser trusting the CA must accept). */
export function makeIssuedCert(dir: string, prefix: string, ca: TestCa, names: { dns?: string[]; ip?: string[] }): TestCert {
  const cert = join(dir, `${prefix}-cert.pem`);
  const key = join(dir, `${prefix}-key.pem`);
  const csr = join(dir, `${prefix}.csr`);
  const ext = join(dir, `${prefix}.ext`);
  const alt = [...(names.dns ?? []).map((n) => `DNS:${n}`), ...(names.ip ?? []).map((a) => `IP:${a}`)].join(',');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${names.dns?.[0] ?? names.ip?.[0]}`], { stdio: 'ignore' });
  writeFileSync(ext, `subjectAltName=${alt}\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext], { stdio: 'ignore' });
  return { cert, key, fingerprint: new X509Certificate(readFileSync(cert)).fingerprint256 };
}
