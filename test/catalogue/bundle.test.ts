// Signed catalogue bundles: what `catalogue pack --sign` writes opens with
// the matching key, and everything else is refused with a reason: a changed
// byte, another key, an expired or older bundle, a bundle that is not one,
// and a signed bundle whose catalogue does not validate.

import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BundleError, generateSigningKey, openBundle, packBundle, parsePrivateKey, parsePublicKey, publicKeyText } from '../../src/control/catalogue/bundle.js';
import { CatalogueError, catalogueFromFiles, readCatalogueDir } from '../../src/control/catalogue/index.js';
import { ConfigFileError, configFromText } from '../../src/control/config/load.js';

const signer = generateSigningKey();
const key = parsePrivateKey(signer.privatePem);
const pub = parsePublicKey(signer.publicKey);
const other = parsePublicKey(generateSigningKey().publicKey);

const HOUR = 3600_000;
const now = Date.parse('2026-12-01T10:00:00Z');
const FILE = (name: string, id = 'bundled-ai') =>
  `services:\n  - id: ${id}\n    name: Bundled AI\n    vendor: Bundled\n    country: kr\n    tags: [genai, chat]\n    reviewed: 2026-11-30\n    domains:\n      - { name: ${name}, sources: [review] }\n`;
const files = [{ path: 'ai/bundled.yaml', text: FILE('bundled.test') }];
const pack = (over: { created?: number; expires?: number; version?: string; f?: typeof files } = {}) =>
  packBundle(over.f ?? files, key, {
    version: over.version ?? '2026.12.01-1',
    created: new Date(over.created ?? now - HOUR),
    expires: new Date(over.expires ?? now + 30 * 24 * HOUR),
  });

/** The envelope with its payload re-encoded after `edit`, signature kept. */
function tamper(bundle: Buffer, edit: (payload: string) => string): Buffer {
  const env = JSON.parse(bundle.toString()) as { payload: string };
  env.payload = Buffer.from(edit(Buffer.from(env.payload, 'base64').toString())).toString('base64');
  return Buffer.from(JSON.stringify(env));
}

describe('catalogue bundles', () => {
  it('open with the signer\'s public key into the catalogue they carry, with version and dates', () => {
    const cat = openBundle(pack(), pub, { now });
    expect(cat.services.map((s) => s.id)).toEqual(['bundled-ai']);
    expect(cat.services[0].domains[0]).toMatchObject({ name: 'bundled.test', file: 'bundle:ai/bundled.yaml', line: 9 });
    expect(cat.info).toEqual({
      origin: 'bundle',
      version: '2026.12.01-1',
      reviewed: '2026-11-30',
      created: new Date(now - HOUR).toISOString(),
      expires: new Date(now + 30 * 24 * HOUR).toISOString(),
    });
  });

  it('carry the whole packaged catalogue', () => {
    const packaged = readCatalogueDir();
    const cat = openBundle(pack({ f: packaged }), pub, { now });
    expect(cat.services.length).toBe(catalogueFromFiles(packaged, { origin: 'packaged', version: 'x' }).services.length);
  });

  it('refuse a changed payload, another key, and a cut signature', () => {
    const good = pack();
    const evil = tamper(good, (p) => p.replace('bundled.test', 'google.com'));
    expect(() => openBundle(evil, pub, { now })).toThrow(/signature does not verify/);
    expect(() => openBundle(good, other, { now })).toThrow(/signature does not verify/);
    const env = JSON.parse(good.toString()) as { signature: string };
    env.signature = env.signature.slice(0, 40);
    expect(() => openBundle(Buffer.from(JSON.stringify(env)), pub, { now })).toThrow(BundleError);
  });

  it('refuse an expired bundle, and one older than the catalogue in use', () => {
    expect(() => openBundle(pack({ created: now - 10 * HOUR, expires: now - HOUR }), pub, { now })).toThrow(/expired at 2026-12-01T09:00:00.000Z/);
    const inUse = new Date(now - HOUR).toISOString();
    expect(() => openBundle(pack({ created: now - 2 * HOUR }), pub, { now, notBefore: inUse })).toThrow(/before the catalogue in use/);
    expect(openBundle(pack({ created: now - HOUR }), pub, { now, notBefore: inUse }).info.version).toBe('2026.12.01-1');
    // The last good copy on disk is checked for its signature only.
    expect(openBundle(pack({ created: now - 10 * HOUR, expires: now - HOUR }), pub, { now, acceptStale: true }).services).toHaveLength(1);
  });

  it('refuse what is not a bundle, and a signed bundle whose catalogue is invalid', () => {
    expect(() => openBundle(Buffer.from('services: []'), pub, { now })).toThrow(/not a catalogue bundle/);
    expect(() => openBundle(Buffer.from('{"payload":"x"}'), pub, { now })).toThrow(/not a catalogue bundle/);
    const bad = pack({ f: [{ path: 'ai/bad.yaml', text: FILE('Bad Name') }] });
    expect(() => openBundle(bad, pub, { now })).toThrow(CatalogueError);
    expect(() => openBundle(bad, pub, { now })).toThrow(/bundle:ai\/bad.yaml:9/);
  });

  it('are packed only from relative .yaml paths, with a sane version and window', () => {
    expect(() => pack({ f: [{ path: '../etc/x.yaml', text: 'x' }] })).toThrow(/not a relative .yaml path/);
    expect(() => pack({ version: 'a b' })).toThrow(/version 'a b'/);
    expect(() => pack({ created: now, expires: now })).toThrow(/expires must be after created/);
  });

  it('use Ed25519 keys only, given raw in base64 or as PEM', () => {
    expect(publicKeyText(parsePublicKey(signer.publicKey))).toBe(signer.publicKey);
    const pem = pub.export({ format: 'pem', type: 'spki' }) as string;
    expect(publicKeyText(parsePublicKey(pem))).toBe(signer.publicKey);
    expect(() => parsePublicKey('c2hvcnQ=')).toThrow(/not an Ed25519 public key/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => parsePublicKey(rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string)).toThrow(/rsa key/);
  });
});

describe('config: catalogue', () => {
  const cfg = (body: string) => configFromText(`upstream: { servers: ["127.0.0.1"] }\n${body}`, '/tmp/aifence.yaml');

  it('takes source, refresh and publicKey; the bundle is kept in dataDir', () => {
    const c = cfg(`dataDir: /var/lib/aifence\ncatalogue: { source: "https://example.org/catalogue.json", refresh: 6h, publicKey: "${signer.publicKey}" }\n`);
    expect(c.catalogue).toEqual({ url: 'https://example.org/catalogue.json', refresh: 21600, publicKey: signer.publicKey, file: '/var/lib/aifence/catalogue.bundle.json' });
    expect(cfg('').catalogue).toBeUndefined();
  });

  it('names the key, the value and the fix', () => {
    const err = (body: string) => {
      try {
        cfg(body);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigFileError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(err(`catalogue: { source: "ftp://x", publicKey: "${signer.publicKey}" }`)).toMatch(/catalogue.source.*ftp:\/\/x.*http\(s\) URL/);
    expect(err('catalogue: { source: "https://x.org/c.json" }')).toMatch(/catalogue.publicKey.*required/);
    expect(err('catalogue: { source: "https://x.org/c.json", publicKey: "nope.pem" }')).toMatch(/catalogue.publicKey.*nope.pem.*ENOENT/);
    expect(err(`catalogue: { source: "https://x.org/c.json", publicKey: "${signer.publicKey}", refresh: 0s }`)).toMatch(/catalogue.refresh/);
    expect(err(`catalogue: { source: "https://x.org/c.json", publicKey: "${signer.publicKey}", url: x }`)).toMatch(/catalogue.url/);
  });
});
