// Signed catalogue bundles: the catalogue's YAML files, a version and a
// validity window, signed with Ed25519 by the maintainers, so a fleet can
// take a new catalogue between releases without trusting the server (or the
// disk) it came from. The signature is checked over the exact payload bytes
// before anything in them is parsed.
//
//   {"aifenceCatalogueBundle":1,"payload":"<base64 JSON>","signature":"<base64>"}
//   payload: {"version","created","expires","files":{"ai/openai.yaml":"…"}}

import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { type Catalogue, type CatalogueFile, catalogueFromFiles } from './load.js';

/** Larger downloads are refused before they are read (the packaged catalogue is about 100 KB). */
export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;
const MAX_FILES = 5000;
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
const PATH_RE = /^(?:[a-z0-9][a-z0-9_-]*\/)*[a-z0-9][a-z0-9_.-]*\.ya?ml$/;

export class BundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleError';
  }
}

interface Payload {
  version: string;
  created: string;
  expires: string;
  files: Record<string, string>;
}

/** An Ed25519 public key from its raw 32 bytes in base64 (what `catalogue keygen` prints) or a PEM. */
export function parsePublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.startsWith('-----BEGIN')) key = createPublicKey(trimmed);
    else {
      const raw = Buffer.from(trimmed, 'base64');
      if (raw.length !== 32 || raw.toString('base64') !== trimmed) throw new Error('not 32 bytes of base64');
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    }
  } catch (err) {
    throw new BundleError(`is not an Ed25519 public key (raw 32 bytes in base64, or a PEM): ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new BundleError(`is a ${key.asymmetricKeyType} key; catalogue bundles are signed with Ed25519`);
  return key;
}

/** The raw public key in base64, as the config's `catalogue.publicKey` takes it. */
export function publicKeyText(key: KeyObject): string {
  return Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url').toString('base64');
}

export function parsePrivateKey(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new BundleError(`is a ${key.asymmetricKeyType} key; sign with an Ed25519 key (aifence catalogue keygen)`);
  return key;
}

/** A new signing key pair: the private key as PKCS#8 PEM, the public key as raw base64. */
export function generateSigningKey(): { privatePem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, publicKey: publicKeyText(publicKey) };
}

export interface PackOptions {
  version: string;
  created: Date;
  expires: Date;
}

/** Builds and signs a bundle of catalogue files (paths relative to the catalogue's root). */
export function packBundle(files: CatalogueFile[], privateKey: KeyObject, opts: PackOptions): Buffer {
  if (!VERSION_RE.test(opts.version)) throw new BundleError(`version '${opts.version}' must be 1-64 characters of A-Z a-z 0-9 . _ + -`);
  if (opts.expires.getTime() <= opts.created.getTime()) throw new BundleError('expires must be after created');
  for (const f of files) if (!PATH_RE.test(f.path)) throw new BundleError(`file path '${f.path}' is not a relative .yaml path in lower case`);
  const payload: Payload = {
    version: opts.version,
    created: opts.created.toISOString(),
    expires: opts.expires.toISOString(),
    files: Object.fromEntries(files.map((f) => [f.path, f.text])),
  };
  const bytes = Buffer.from(JSON.stringify(payload));
  const signature = sign(null, bytes, privateKey);
  return Buffer.from(
    JSON.stringify({ aifenceCatalogueBundle: 1, payload: bytes.toString('base64'), signature: signature.toString('base64') }) + '\n',
  );
}

export interface OpenOptions {
  /** Wall-clock milliseconds: an expired bundle is refused. */
  now: number;
  /** The creation time of the bundle in use: an older one is refused (a replayed bundle must not roll the catalogue back). */
  notBefore?: string;
  /** Check the signature only, not expiry or age (the last good copy on disk, accepted when it was fresh). */
  acceptStale?: boolean;
}

/**
 * Verifies a bundle and returns its catalogue, or throws a BundleError
 * saying why it was refused: not a bundle, bad signature (tampered, or
 * another key), expired, older than the one in use, or invalid catalogue.
 */
export function openBundle(bytes: Buffer, publicKey: KeyObject, opts: OpenOptions): Catalogue {
  if (bytes.length > MAX_BUNDLE_BYTES) throw new BundleError(`is ${bytes.length} bytes, over the ${MAX_BUNDLE_BYTES}-byte limit`);
  let envelope: unknown;
  try {
    envelope = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BundleError('is not a catalogue bundle (not JSON)');
  }
  const env = envelope as { aifenceCatalogueBundle?: unknown; payload?: unknown; signature?: unknown };
  if (env?.aifenceCatalogueBundle !== 1 || typeof env.payload !== 'string' || typeof env.signature !== 'string') {
    throw new BundleError('is not a catalogue bundle (expected aifenceCatalogueBundle: 1, payload, signature)');
  }
  const payloadBytes = Buffer.from(env.payload, 'base64');
  const signature = Buffer.from(env.signature, 'base64');
  if (signature.length !== 64 || !verify(null, payloadBytes, publicKey, signature)) {
    throw new BundleError('signature does not verify with catalogue.publicKey (tampered, or signed with another key)');
  }
  const payload = readPayload(payloadBytes);
  if (!opts.acceptStale) {
    if (Date.parse(payload.expires) <= opts.now) throw new BundleError(`expired at ${payload.expires} (version ${payload.version})`);
    if (opts.notBefore !== undefined && Date.parse(payload.created) < Date.parse(opts.notBefore)) {
      throw new BundleError(`version ${payload.version} was created at ${payload.created}, before the catalogue in use (${opts.notBefore})`);
    }
  }
  const files = Object.entries(payload.files).map(([path, text]) => ({ path: `bundle:${path}`, text }));
  return catalogueFromFiles(files, { origin: 'bundle', version: payload.version, created: payload.created, expires: payload.expires }, 'bundle');
}

/** The signed payload's shape; signed does not mean well-formed. */
function readPayload(bytes: Buffer): Payload {
  let p: Partial<Payload>;
  try {
    p = JSON.parse(bytes.toString('utf8')) as Partial<Payload>;
  } catch {
    throw new BundleError('payload is not JSON');
  }
  if (typeof p.version !== 'string' || !VERSION_RE.test(p.version)) throw new BundleError('payload has no valid version');
  for (const key of ['created', 'expires'] as const) {
    if (typeof p[key] !== 'string' || Number.isNaN(Date.parse(p[key]))) throw new BundleError(`payload's ${key} is not a date-time`);
  }
  const files = p.files;
  if (typeof files !== 'object' || files === null || Array.isArray(files)) throw new BundleError('payload has no files');
  const entries = Object.entries(files);
  if (entries.length === 0 || entries.length > MAX_FILES) throw new BundleError(`payload holds ${entries.length} files; 1 to ${MAX_FILES}`);
  for (const [path, text] of entries) {
    if (!PATH_RE.test(path) || typeof text !== 'string') throw new BundleError(`payload file '${path}' is not a relative .yaml path with text`);
  }
  return p as Payload;
}
