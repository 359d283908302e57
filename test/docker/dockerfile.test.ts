// No Docker engine here, so this test carries out the Dockerfile's own
// steps outside Docker: each stage in a directory of its own, COPY as
// copies, RUN as shell commands, then the image's ENTRYPOINT + CMD and its
// HEALTHCHECK, against the container config (listen moved to loopback and
// upstream to a test server, as an admin mounting their own config would).
// The build context is checked against .dockerignore.

import { execFile, execSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { query } from '../support/client.js';
import { baseImages, instructions } from '../support/dockerfile.js';
import { TestUpstream } from '../support/upstream.js';

interface Stage {
  name: string;
  dir: string;
  workdir: string;
}

const run = promisify(execFile);

/** .dockerignore as Docker reads it: globs relative to the context root, `**` across folders, a match covers what is inside. */
function dockerignore(text: string): (path: string) => boolean {
  const patterns = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((glob) => {
      const body = glob
        .replace(/^\/+/, '')
        .split('**/')
        .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
        .join('(?:.*/)?');
      return new RegExp(`^${body}(?:/.*)?$`);
    });
  return (path) => patterns.some((re) => re.test(path));
}

describe('.dockerignore', () => {
  const ignored = dockerignore(readFileSync('.dockerignore', 'utf8'));
  const copied = instructions(readFileSync('Dockerfile', 'utf8'))
    .filter(([op, arg]) => op === 'COPY' && !arg.startsWith('--from='))
    .flatMap(([, arg]) => arg.split(/\s+/).slice(0, -1));

  it('keeps every path the Dockerfile copies from the context', () => {
    expect(copied.length).toBeGreaterThan(0);
    for (const path of copied) expect(ignored(path), path).toBe(false);
    expect(ignored('blocklists/ai/deepseek.yaml')).toBe(false);
  });

  it('leaves out installed modules, builds, git, downloaded lists, logs and secrets', () => {
    for (const path of ['node_modules/pino/package.json', 'dist/cli.js', '.git/HEAD', 'data/lists/ads.txt', 'config/data/lists/ads.txt', 'aifence-queries.jsonl', 'config/aifence-queries.jsonl.1', '.env', 'npm-debug.log', 'aifence-0.1.0.tgz']) {
      expect(ignored(path), path).toBe(true);
    }
  });
});

describe('Dockerfile', () => {
  it('runs on the supported Node LTS (24): the official bookworm-slim image unless BASE names another', () => {
    const bases = baseImages(readFileSync('Dockerfile', 'utf8'));
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) expect(base).toBe('docker.io/library/node:24-bookworm-slim');
  });

  it('builds and starts outside Docker with its own steps, and its health check passes', async () => {
    const repo = resolve('.');
    const root = mkdtempSync(join(tmpdir(), 'aifence-image-'));
    const stages: Stage[] = [];
    let stage: Stage | undefined;
    let entrypoint: string[] = [];
    let cmd: string[] = [];
    let health: string[] = [];
    const inStage = (s: Stage, p: string) => (p.startsWith('/') ? join(s.dir, p) : join(s.dir, s.workdir, p));
    for (const [op, arg] of instructions(readFileSync('Dockerfile', 'utf8'))) {
      if (op === 'FROM') {
        const name = /\bAS\s+(\S+)/i.exec(arg)?.[1] ?? `stage${stages.length}`;
        stage = { name, dir: join(root, name), workdir: '/' };
        mkdirSync(stage.dir, { recursive: true });
        stages.push(stage);
      } else if (op === 'WORKDIR') {
        stage!.workdir = arg;
        mkdirSync(inStage(stage!, '.'), { recursive: true });
      } else if (op === 'COPY') {
        const words = arg.split(/\s+/);
        const from = words[0].startsWith('--from=') ? stages.find((s) => s.name === words.shift()!.slice(7)) : undefined;
        const dest = words.pop()!;
        for (const src of words) {
          const source = from ? inStage(from, src) : join(repo, src);
          const target = dest.endsWith('/') || words.length > 1 ? join(inStage(stage!, dest), src.split('/').pop()!) : inStage(stage!, dest);
          mkdirSync(dirname(target), { recursive: true });
          cpSync(source, target, { recursive: true });
        }
      } else if (op === 'RUN') {
        execSync(arg, { cwd: inStage(stage!, '.'), stdio: 'pipe' });
      } else if (op === 'ENTRYPOINT') {
        entrypoint = JSON.parse(arg);
      } else if (op === 'CMD') {
        cmd = JSON.parse(arg);
      } else if (op === 'HEALTHCHECK') {
        health = JSON.parse(arg.slice(arg.indexOf('CMD') + 3));
      }
    }
    const image = stages[stages.length - 1];
    // Production dependencies only: the toolchain stayed in the build stage.
    expect(existsSync(inStage(image, 'node_modules/typescript'))).toBe(false);
    expect(existsSync(inStage(image, 'node_modules/pino'))).toBe(true);

    // The admin's own config mounted over the built-in one: a reachable upstream instead of the internet.
    const upstream = await TestUpstream.start();
    const configInImage = inStage(image, '/etc/aifence/aifence.yaml');
    const config = parse(readFileSync(configInImage, 'utf8'));
    // dataDir too (the generated admin token goes there): inside the stage, never this machine's /home/node.
    const dataDir = inStage(image, '/home/node');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(configInImage, stringify({ ...config, dataDir, upstream: { ...config.upstream, servers: [upstream.address] } }));

    // Paths inside the image live under the stage's directory; node is this machine's.
    const local = (args: string[]) => args.map((a) => (a === 'node' ? process.execPath : a.startsWith('/') ? join(image.dir, a) : a));
    const [bin, ...args] = local([...entrypoint, ...cmd, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
    const child = spawn(bin, args, { cwd: inStage(image, '.'), stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await new Promise<number>((ok, fail) => {
        let out = '';
        child.stdout!.on('data', (c: Buffer) => {
          out += c;
          const m = /"listen":\["127\.0\.0\.1:(\d+)"\]/.exec(out);
          if (m) ok(Number(m[1]));
        });
        child.on('exit', () => fail(new Error(`image did not start: ${out}`)));
      });
      expect((await query(port, 'chat.deepseek.com')).rcode).toBe(3);
      // The config says 0.0.0.0:53; this run listens elsewhere, and --server wins over --config.
      const [hbin, ...hargs] = local([...health, '--server', `127.0.0.1:${port}`]);
      // Asynchronously: the test upstream answers from this process's event loop.
      const probe = await run(hbin, hargs, { cwd: inStage(image, '.') });
      expect(probe.stdout).toContain(`aifence answers on 127.0.0.1:${port}`);
    } finally {
      child.kill('SIGTERM');
      upstream.close();
    }
  }, 240_000);
});
