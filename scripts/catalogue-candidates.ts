// A maintainer's tool: the catalogue's candidate pipeline.
//
// Reads the public sources listed in blocklists/review/sources.tsv from git
// checkouts kept OUTSIDE the repository (default ../sources/<owner>+<name>,
// each read at the commit the manifest names), and any number of
// `aifence report --discover` outputs; drops the names the catalogue already
// covers, the shared-infrastructure names and what blocklists/review/rejected.tsv
// rejects; prints a summary and what is left to review. With --write it
// rewrites blocklists/review/queue.tsv (the review queue) and
// blocklists/candidates.tsv (the names `aifence report --discover` weighs as
// evidence); with --readme the single-source list in blocklists/review/.
//
//   npm run catalogue:candidates -- [--sources DIR] [--discover FILE]... [--write] [--readme] [--strict]
//                                   [--manifest FILE] [--out DIR]   (another manifest; write the queue elsewhere)
//
// Fetch a source with `git clone https://github.com/OWNER/NAME DIR/OWNER+NAME`.
// Nothing fetched is committed: only the manifest (repository, commit, files),
// the queue, the rejections and the catalogue entries a reviewer writes.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCatalogue } from '../src/control/catalogue/load.js';
import { singleSourceDoc, singleSourceNames } from '../src/control/catalogue/review.js';
import { discoverReport, expandPaths, extract, type Candidate } from './catalogue/extract.js';
import { checkoutDir, readManifest } from './catalogue/manifest.js';
import { AI_REASONS, buildQueue, discoveredInQueue, readRejected, readSharedInfrastructure, renderQueue } from './catalogue/queue.js';

const root = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));
const PATHS = {
  manifest: root('blocklists/review/sources.tsv'),
  rejected: root('blocklists/review/rejected.tsv'),
  queue: root('blocklists/review/queue.tsv'),
  singleSource: root('blocklists/review/single-source.md'),
  candidates: root('blocklists/candidates.tsv'),
  shared: root('test/catalogue/shared-infrastructure.txt'),
};

interface Options {
  sources: string;
  manifest: string;
  out?: string;
  discover: string[];
  write: boolean;
  readme: boolean;
  strict: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    sources: process.env.AIFENCE_SOURCES ?? root('../sources'),
    manifest: PATHS.manifest,
    discover: [],
    write: false,
    readme: false,
    strict: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--sources') opts.sources = value();
    else if (a === '--manifest') opts.manifest = value();
    else if (a === '--out') opts.out = value();
    else if (a === '--discover') opts.discover.push(value());
    else if (a === '--write') opts.write = true;
    else if (a === '--readme') opts.readme = true;
    else if (a === '--strict') opts.strict = true;
    else throw new Error(`unknown option '${a}' (options: --sources DIR, --discover FILE, --write, --readme, --strict, --manifest FILE, --out DIR)`);
  }
  return opts;
}

/** Reads `path` as it was at `commit` in the git checkout `dir`. */
const gitRead = (dir: string, commit: string) => (path: string) =>
  execFileSync('git', ['-C', dir, 'show', `${commit}:${path}`], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });

function main(): void {
  const opts = parseArgs(process.argv.slice(2));
  const log = (line: string) => process.stderr.write(line + '\n');
  const cat = loadCatalogue();
  const candidates: Candidate[] = [];
  const missing: string[] = [];

  for (const spec of readManifest(opts.manifest)) {
    const dir = join(opts.sources, checkoutDir(spec.repo));
    const hasCommit =
      existsSync(dir) &&
      (() => {
        try {
          execFileSync('git', ['-C', dir, 'cat-file', '-e', `${spec.commit}^{commit}`], { stdio: 'ignore' });
          return true;
        } catch {
          return false;
        }
      })();
    if (!hasCommit) {
      missing.push(`${spec.label}: ${spec.repo}@${spec.commit.slice(0, 12)} not in ${dir} (git clone https://github.com/${spec.repo} ${dir})`);
      continue;
    }
    const files = () => execFileSync('git', ['-C', dir, 'ls-tree', '-r', '--name-only', spec.commit], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n');
    const found = extract({ ...spec, paths: expandPaths(spec.paths, files) }, gitRead(dir, spec.commit));
    log(`${spec.label.padEnd(22)} ${spec.repo}@${spec.commit.slice(0, 8)}: ${found.length} names`);
    candidates.push(...found);
  }
  for (const file of opts.discover) {
    const found = discoverReport(readFileSync(file, 'utf8'), 'discover');
    log(`${'discover'.padEnd(22)} ${file}: ${found.length} names`);
    candidates.push(...found);
  }
  // Names discovered earlier stay queued until decided.
  const queuePath = opts.out ? join(opts.out, 'queue.tsv') : PATHS.queue;
  candidates.push(...discoveredInQueue(queuePath));
  if (missing.length > 0) {
    log(`sources not read:\n  ${missing.join('\n  ')}`);
    if (opts.strict) process.exit(1);
  }

  const rejected = readRejected(PATHS.rejected);
  const result = buildQueue(candidates, cat, readSharedInfrastructure(PATHS.shared), rejected);
  const out = [
    `# ${result.read} names read, ${result.hosts} distinct: ${result.covered} covered by the catalogue, ` +
      `${result.shared} shared infrastructure, ${result.rejected} rejected (${rejected.length} rejection rows), ${result.queue.length} to review`,
    ...result.queue.map((r) => `  ${r.host}\t${r.products.join(' | ')}\t${r.sources.join(' ')}`),
  ];
  const single = singleSourceNames(cat);
  out.push(`# ${single.length} catalogue names resting on one source`);
  process.stdout.write(out.join('\n') + '\n');

  if (opts.write) {
    if (missing.length > 0) {
      log('--write needs every source: the queue would lose the names of those not read');
      process.exit(1);
    }
    const candidatesPath = opts.out ? join(opts.out, 'candidates.tsv') : PATHS.candidates;
    writeFileSync(queuePath, renderQueue(result.queue));
    // What `aifence report --discover` weighs as "named by public AI lists": names still
    // waiting for review, and rejected ones that are AI all the same (not confirmed, builders).
    const evidence = [
      ...result.queue.map((r) => [r.host, r.products[0] ?? r.host]),
      ...rejected.filter((r) => AI_REASONS.has(r.reason)).map((r) => [r.host, r.product || r.host]),
    ].sort(([a], [b]) => a.localeCompare(b));
    writeFileSync(
      candidatesPath,
      '# Names public AI lists carry that no catalogue entry covers: the review queue and rejected names that are AI all the same\n' +
        '# (npm run catalogue:candidates -- --write). aifence report --discover flags clients querying them. domain<TAB>service\n' +
        evidence.map((r) => r.map((c) => c.replace(/\t/g, ' ')).join('\t') + '\n').join(''),
    );
    log(`${queuePath}: ${result.queue.length} rows; ${candidatesPath}: ${evidence.length} names`);
  }
  if (opts.readme) {
    writeFileSync(PATHS.singleSource, singleSourceDoc(cat));
    log(`${PATHS.singleSource}: ${single.length} names`);
  }
}

try {
  main();
} catch (err) {
  process.stderr.write(`catalogue:candidates: ${(err as Error).message}\n`);
  process.exit(1);
}
