// Maintainers' tools for signed catalogue updates: a signing key, and the
// bundle a fleet's `catalogue.source` serves.

import { readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { DEFAULT_CATALOGUE_DIR, catalogueFromFiles, readCatalogueDir } from '../control/catalogue/index.js';
import { generateSigningKey, openBundle, packBundle, parsePrivateKey, parsePublicKey } from '../control/catalogue/bundle.js';
import { duration } from '../control/config/check.js';

export function catalogueCommand(): Command {
  const cmd = new Command('catalogue').description('signed catalogue bundles for updates between releases (maintainers)');

  cmd
    .command('keygen')
    .description('write a new Ed25519 signing key (PKCS#8 PEM, mode 0600) and print its public key for catalogue.publicKey')
    .requiredOption('--out <file>', 'where to write the private key')
    .action((opts: { out: string }) => {
      const { privatePem, publicKey } = generateSigningKey();
      writeFileSync(opts.out, privatePem, { mode: 0o600, flag: 'wx' }); // never overwrite a key
      process.stdout.write(`${publicKey}\n`);
      process.stderr.write(`private key written to ${opts.out}; put the line above in catalogue.publicKey\n`);
    });

  cmd
    .command('pack')
    .description('validate a catalogue directory and write it as a signed bundle')
    .requiredOption('--sign <keyfile>', 'the Ed25519 private key (PEM) to sign with')
    .option('--dir <dir>', 'catalogue directory', DEFAULT_CATALOGUE_DIR)
    .option('--version <version>', 'bundle version (default: UTC date and time, e.g. 2026.12.01-1030)')
    .option('--expires <duration>', 'how long fleets may accept it, e.g. 30d', '30d')
    .option('--out <file>', 'output file (default: stdout)')
    .action((opts: { sign: string; dir: string; version?: string; expires: string; out?: string }) => {
      const files = readCatalogueDir(opts.dir);
      // Refuse to sign what the daemon would refuse to load.
      const cat = catalogueFromFiles(files, { origin: 'bundle', version: 'check' }, opts.dir);
      const created = new Date();
      const version = opts.version ?? created.toISOString().slice(0, 16).replace(/-/g, '.').replace('T', '-').replace(':', '');
      const expires = new Date(created.getTime() + duration('--expires', opts.expires, 3600, 366 * 86400) * 1000);
      const key = parsePrivateKey(readFileSync(opts.sign, 'utf8'));
      const bundle = packBundle(files, key, { version, created, expires });
      if (opts.out) writeFileSync(opts.out, bundle);
      else process.stdout.write(bundle);
      process.stderr.write(`catalogue bundle ${version}: ${cat.services.length} services from ${files.length} files, expires ${expires.toISOString()}\n`);
    });

  cmd
    .command('verify <file>')
    .description('check a bundle as the daemon would: signature, expiry, catalogue')
    .requiredOption('--public-key <key>', 'base64 Ed25519 public key, or a PEM file')
    .action((file: string, opts: { publicKey: string }) => {
      const text = /^[A-Za-z0-9+/]{43}=$/.test(opts.publicKey) ? opts.publicKey : readFileSync(opts.publicKey, 'utf8');
      const cat = openBundle(readFileSync(file), parsePublicKey(text), { now: Date.now() });
      process.stdout.write(`ok: version ${cat.info.version}, ${cat.services.length} services, reviewed ${cat.info.reviewed}, expires ${cat.info.expires}\n`);
    });

  return cmd;
}
