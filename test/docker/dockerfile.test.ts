// No Docker engine here, so this test carries out the Dockerfile's own
// steps outside Docker: each stage in a directory of its own, COPY as
// copies, RUN as shell commands, then the image's ENTRYPOINT + CMD and its
// HEALTHCHECK, against the container config (listen moved to loopback).

import { execSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { query } from '../support/client.js';

interface Stage {
  name: string;
  dir: string;
  workdir: string;
}

/** Instructions with continuation lines joined and comments dropped. */
function instructions(text: string): [string, string][] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const space = l.indexOf(' ');
      return [l.slice(0, space).toUpperCase(), l.slice(space + 1).trim()];
    });
}

describe('Dockerfile', () => {
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
      const [hbin, ...hargs] = local(health.map((a) => (a === '127.0.0.1:53' ? `127.0.0.1:${port}` : a)));
      expect(spawnSync(hbin, hargs, { cwd: inStage(image, '.') }).status).toBe(0);
    } finally {
      child.kill('SIGTERM');
    }
  }, 240_000);
});
