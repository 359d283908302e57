// The certificate and key the DoT and DoH listeners present, read from
// files and re-read when they change (certbot and friends replace them by
// rename). A pair that does not load (half-written, key not matching) keeps
// the last good one in use and says why; new connections get the new pair,
// open ones keep theirs.

import { readFileSync } from 'node:fs';
import { type SecureContext, type SecureContextOptions, createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { TlsFiles as TlsFilesConfig } from '../../shared/serving-config.js';
import type { Logger } from '../../shared/logger.js';
import { watchFiles } from '../../shared/watch.js';

export class TlsFiles {
  private context: SecureContext;
  private pem: { cert: Buffer; key: Buffer };
  private unwatch: () => void = () => undefined;
  /** Called after a new pair is in use (the DoH servers take it through setSecureContext). */
  readonly onChange: ((options: SecureContextOptions) => void)[] = [];

  /** Throws when the files cannot be read or do not make a pair: start-up fails with the file named. */
  constructor(
    private readonly files: TlsFilesConfig,
    private readonly log: Logger,
  ) {
    this.pem = read(files);
    this.context = createContext(this.pem, files);
  }

  /** The context for the next connection. */
  readonly secureContext = (): SecureContext => this.context;

  get options(): SecureContextOptions {
    return { cert: this.pem.cert, key: this.pem.key };
  }

  /** The DNS names and IP addresses the certificate is for (DDR advertises the first name). */
  get subjectNames(): { dns: string[]; ip: string[] } {
    const alt = new X509Certificate(this.pem.cert).subjectAltName ?? '';
    const dns: string[] = [];
    const ip: string[] = [];
    for (const part of alt.split(/,\s*/)) {
      if (part.startsWith('DNS:')) dns.push(part.slice(4));
      else if (part.startsWith('IP Address:')) ip.push(part.slice(11));
    }
    return { dns, ip };
  }

  watch(): void {
    this.unwatch();
    this.unwatch = watchFiles([this.files.cert, this.files.key], () => this.reload());
  }

  /** Re-reads both files; keeps the pair in use when the new one does not load. */
  reload(): boolean {
    try {
      const pem = read(this.files);
      const context = createContext(pem, this.files);
      this.pem = pem;
      this.context = context;
      for (const f of this.onChange) f(this.options);
      this.log.info({ cert: this.files.cert }, 'TLS certificate reloaded');
      return true;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'TLS certificate not reloaded; still presenting the previous one');
      return false;
    }
  }

  close(): void {
    this.unwatch();
  }
}

function read(files: TlsFilesConfig): { cert: Buffer; key: Buffer } {
  const one = (key: 'cert' | 'key') => {
    try {
      return readFileSync(files[key]);
    } catch (err) {
      throw new Error(`tls.${key}: cannot read ${files[key]}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return { cert: one('cert'), key: one('key') };
}

function createContext(pem: { cert: Buffer; key: Buffer }, files: TlsFilesConfig): SecureContext {
  try {
    return createSecureContext({ cert: pem.cert, key: pem.key });
  } catch (err) {
    throw new Error(`tls: ${files.cert} and ${files.key} are not a certificate (PEM) and its private key: ${(err as Error).message}`);
  }
}
