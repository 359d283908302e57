// The catalogue from the command line, as a maintainer and an admin use it:
// `catalogue keygen/pack/verify` make a bundle the daemon accepts;
// `services` shows which catalogue a config would serve (version, review
// date) and the vendor selectors; `check` takes vendor: selectors and
// suggests across kinds on a typo.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = resolve('dist/cli.js');
const run = (...args: string[]) => execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('aifence catalogue and services', () => {
  it('packs a signed bundle that verifies, and services shows it once it is the last good copy', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-cat-cli-'));
    const key = join(dir, 'signing.pem');
    const publicKey = run('catalogue', 'keygen', '--out', key).trim();
    expect(publicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    // keygen never overwrites a key.
    expect(spawnSync(process.execPath, [CLI, 'catalogue', 'keygen', '--out', key]).status).not.toBe(0);

    const catDir = join(dir, 'catalogue', 'ai');
    mkdirSync(catDir, { recursive: true });
    writeFileSync(
      join(catDir, 'x.yaml'),
      'services:\n  - id: x-ai\n    name: X AI\n    vendor: X Corp\n    country: kr\n    tags: [genai, chat]\n    reviewed: 2026-11-30\n    domains:\n      - { name: x-ai.test, sources: [review] }\n',
    );
    const bundle = join(dir, 'data', 'catalogue.bundle.json');
    mkdirSync(join(dir, 'data'));
    run('catalogue', 'pack', '--sign', key, '--dir', join(dir, 'catalogue'), '--version', '2026.12.01-1', '--expires', '7d', '--out', bundle);
    expect(run('catalogue', 'verify', bundle, '--public-key', publicKey)).toMatch(/^ok: version 2026.12.01-1, 1 services, reviewed 2026-11-30/);

    // A changed byte does not verify.
    const tampered = join(dir, 'tampered.json');
    writeFileSync(tampered, readFileSync(bundle, 'utf8').replace(/"signature":"(.)/, (_m, c: string) => `"signature":"${c === 'A' ? 'B' : 'A'}`));
    const bad = spawnSync(process.execPath, [CLI, 'catalogue', 'verify', tampered, '--public-key', publicKey], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/signature does not verify/);

    // With the config's catalogue section, services reads the verified copy in dataDir.
    const config = join(dir, 'aifence.yaml');
    writeFileSync(config, `upstream: { servers: ["127.0.0.1:5399"] }\ndataDir: data\ncatalogue: { source: "https://example.invalid/c.json", publicKey: "${publicKey}" }\n`);
    const text = run('services', '--config', config);
    expect(text.split('\n')[0]).toMatch(/^# catalogue 2026.12.01-1 \(bundle, signed .*, expires .*\), reviewed 2026-11-30, 1 services$/);
    expect(text).toContain('x-ai\tX AI\tX Corp (vendor:x-corp)\tkr\tgenai,chat\t1');
    const json = run('services', '--config', config, '--json').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(json[0]).toMatchObject({ catalogue: { origin: 'bundle', version: '2026.12.01-1', reviewed: '2026-11-30', services: 1 } });
    expect(json[1]).toMatchObject({ id: 'x-ai', vendorId: 'x-corp' });
  });

  it('services lists the packaged catalogue and its vendor selectors', () => {
    const text = run('services');
    expect(text.split('\n')[0]).toMatch(/^# catalogue \S+ \(packaged\), reviewed \d{4}-\d{2}-\d{2}, \d+ services$/);
    expect(text).toMatch(/^claude\tClaude\tAnthropic \(vendor:anthropic\)\tus\t/m);
    // DoH resolvers are not selected by vendor:, so they show no vendor selector.
    expect(text).toMatch(/^google-public-dns\tGoogle Public DNS\tGoogle\tus\tdoh-bypass\t/m);
    const vendors = run('services', '--vendors');
    expect(vendors).toMatch(/^vendor:anthropic\tAnthropic\tclaude,claude-artifacts$/m);
    expect(vendors).toMatch(/^vendor:bytedance\tByteDance\t.*doubao/m);
  });

  it('services --countries lists every vendor country as a tag:CODE selector with its count, most services first, unknown (zz) last', () => {
    const lines = run('services', '--countries').trim().split('\n').slice(1);
    expect(lines[0]).toMatch(/^tag:us\t\d+\tUnited States$/);
    expect(lines).toContainEqual(expect.stringMatching(/^tag:jp\t\d+\tJapan$/));
    expect(lines).toContainEqual(expect.stringMatching(/^tag:br\t\d+\tBrazil$/));
    expect(lines.length).toBeGreaterThanOrEqual(30);
    // Vendors whose country is not known come last, as "unknown": tag:zz is no country to allow.
    expect(lines.at(-1)).toMatch(/^tag:zz\t\d+\tunknown$/);
    const counts = lines.slice(0, -1).map((l) => Number(l.split('\t')[1]));
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    const json = run('services', '--countries', '--json').trim().split('\n').slice(1).map((l) => JSON.parse(l) as { tag: string; services: number });
    expect(json.find((c) => c.tag === 'tag:sa')?.services).toBeGreaterThan(0);
  });

  it('check takes vendor: selectors from the config, and a typo suggests across kinds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-cat-cli-'));
    const config = join(dir, 'aifence.yaml');
    writeFileSync(config, 'upstream: { servers: ["127.0.0.1:5399"] }\ngroups:\n  default:\n    block: [vendor:anthropic]\n');
    const out = JSON.parse(run('check', 'claude.ai', 'chatgpt.com', '--config', config, '--json').trim().split('\n')[0]) as { verdict: string; service: string };
    expect(out).toMatchObject({ verdict: 'blocked', service: 'claude' });
    writeFileSync(config, 'upstream: { servers: ["127.0.0.1:5399"] }\ngroups:\n  default:\n    block: [service:anthropic]\n');
    const typo = spawnSync(process.execPath, [CLI, 'check', 'claude.ai', '--config', config], { encoding: 'utf8' });
    expect(typo.status).not.toBe(0);
    expect(typo.stderr).toContain("unknown selector 'service:anthropic'; did you mean 'vendor:anthropic' or 'service:claude' or 'service:claude-artifacts'?");
  });
});
