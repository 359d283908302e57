// The certificates the HTTPS block page presents. With the organisation's
// CA: a leaf per TLS server name, minted on first use (ECDSA P-256, valid
// two days, remade after one), kept in a bounded cache, so a browser that
// trusts the CA shows the page without a warning, HSTS sites included.
// Only names the policy blocks for someone are minted: the CA's key never
// vouches for a name aifence would not answer with the page. Everything else
// (no server name, a name not blocked, a minting rate over its budget) gets
// the default certificate: the page's own addresses, from the CA, or
// self-signed when there is no CA (browsers warn, and refuse HSTS sites).
//
// The CA key is read once at start, from a file only its owner may read,
// and never logged: errors name the file, never its contents.

import { type KeyObject, X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { lstatSync, readFileSync } from 'node:fs';
import { type SecureContext, createSecureContext } from 'node:tls';
import { type Signer, caSigner, issue, pem, selfSigned } from './x509.js';

/** Leaves kept at once; the least recently used goes first. */
export const MAX_CACHED = 1000;
/** A leaf is valid this long and remade after half of it. */
const VALIDITY_MS = 2 * 86_400_000;
/** Certificates start an hour back: a client whose clock is a little behind still accepts them. */
const BACKDATE_MS = 3_600_000;
/**
 * New names minted per second (and at once): a flood of server names costs
 * at most this many signatures (about a millisecond each, on the thread that
 * also answers DNS with `workers: 1`). An office meets few new blocked names
 * a second, and each is kept once minted.
 */
const MINT_RATE = 20;
const MINT_BURST = 100;
const MAX_FILE = 64 * 1024;

export interface CertificateOptions {
  /** The organisation's CA, as files; undefined: self-signed. */
  ca?: { cert: string; key: string };
  /** What the default certificate names: the page's own addresses. */
  defaultNames: { dns: string[]; ip: string[] };
  organisation?: string;
  /** May a certificate be made for this name (validated, lower case)? */
  mayMint: (name: string) => boolean;
  clock?: () => number;
  maxCached?: number;
}

export interface LoadedCa {
  signer: Signer;
  /** The CA's certificate(s), PEM: sent after each leaf. */
  chain: string;
}

/** Reads the CA's certificate and key, refusing a key file others can read; errors name the file and the fix. */
export function loadCa(files: { cert: string; key: string }): LoadedCa {
  const chain = readPem(files.cert, 'blockPage.ca.cert', false);
  const keyText = readPem(files.key, 'blockPage.ca.key', true);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyText);
  } catch {
    throw new Error(`blockPage.ca.key ${files.key} is not a PEM private key aifence can read (an encrypted key needs its passphrase removed: openssl pkey -in KEY -out KEY.plain, then chmod 600)`);
  }
  try {
    new X509Certificate(chain);
  } catch {
    throw new Error(`blockPage.ca.cert ${files.cert} is not a PEM certificate`);
  }
  try {
    return { signer: caSigner(chain, key), chain };
  } catch (err) {
    throw new Error(`blockPage.ca.cert ${files.cert} ${(err as Error).message}`);
  }
}

function readPem(file: string, key: string, secret: boolean): string {
  let stat;
  try {
    stat = lstatSync(file);
  } catch (err) {
    throw new Error(`${key} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!stat.isFile()) throw new Error(`${key} ${file} is not a regular file`);
  if (stat.size > MAX_FILE) throw new Error(`${key} ${file} is larger than ${MAX_FILE} bytes, not a PEM file`);
  if (secret && (stat.mode & 0o077) !== 0) {
    throw new Error(`${key} ${file} can be read by others (mode ${(stat.mode & 0o777).toString(8)}): anyone who reads it can pass for any site on your devices; chmod 600 it (owned by the user aifence runs as)`);
  }
  return readFileSync(file, 'utf8');
}

export class Certificates {
  readonly defaultContext: SecureContext;
  /** The default certificate and key as PEM: what a TLS server is created with (used without a server name). */
  readonly defaultPem: { cert: string; key: string };
  private readonly cache = new Map<string, { context: SecureContext; renew: number }>();
  private readonly leafKey: KeyObject;
  private readonly leafPublic: KeyObject;
  private readonly leafKeyPem: string;
  private readonly clock: () => number;
  private readonly max: number;
  private tokens = MINT_BURST;
  private refilled: number;
  /** Leaves minted since start, and names that got the default certificate instead. */
  readonly stats = { minted: 0, refused: 0 };

  constructor(
    private readonly ca: LoadedCa | null,
    private readonly options: CertificateOptions,
  ) {
    this.clock = options.clock ?? Date.now;
    this.max = options.maxCached ?? MAX_CACHED;
    this.refilled = this.clock();
    // One key for every leaf: a key per name would cost a key generation per name and protect nothing more.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    this.leafKey = privateKey;
    this.leafPublic = publicKey;
    this.leafKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    this.defaultPem = this.issuePem(options.defaultNames);
    this.defaultContext = createSecureContext(this.defaultPem);
  }

  /** Cached leaves now. */
  get size(): number {
    return this.cache.size;
  }

  get hasCa(): boolean {
    return this.ca !== null;
  }

  /** For tls.Server's SNICallback: the leaf for `servername`, or the default certificate. */
  readonly sniCallback = (servername: string, done: (err: Error | null, context?: SecureContext) => void): void => {
    try {
      done(null, this.contextFor(servername));
    } catch (err) {
      done(err as Error);
    }
  };

  contextFor(servername: string): SecureContext {
    if (this.ca === null) return this.defaultContext;
    const name = servername.toLowerCase();
    const now = this.clock();
    const hit = this.cache.get(name);
    if (hit !== undefined && hit.renew > now) {
      // Most recently used last: the first entry is the one to evict.
      this.cache.delete(name);
      this.cache.set(name, hit);
      return hit.context;
    }
    if (!this.mayMint(name, now)) {
      this.stats.refused++;
      return this.defaultContext;
    }
    const context = createSecureContext(this.issuePem({ dns: [name], ip: [] }));
    this.stats.minted++;
    this.cache.delete(name);
    this.cache.set(name, { context, renew: now + VALIDITY_MS / 2 });
    while (this.cache.size > this.max) this.cache.delete(this.cache.keys().next().value!);
    return context;
  }

  private mayMint(name: string, now: number): boolean {
    if (!/^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/.test(name)) return false;
    if (!this.options.mayMint(name)) return false;
    this.tokens = Math.min(MINT_BURST, this.tokens + ((now - this.refilled) / 1000) * MINT_RATE);
    this.refilled = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  private issuePem(names: { dns: string[]; ip: string[] }): { cert: string; key: string } {
    const now = this.clock();
    const notBefore = new Date(now - BACKDATE_MS);
    const notAfter = new Date(now + VALIDITY_MS);
    const der = this.ca
      ? issue(this.ca.signer, { ...names, publicKey: this.leafPublic, notBefore, notAfter })
      : selfSigned(this.leafKey, names, this.options.organisation, notBefore, notAfter);
    return { key: this.leafKeyPem, cert: pem(der) + (this.ca ? this.ca.chain : '') };
  }

}
