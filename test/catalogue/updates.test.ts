// Signed catalogue updates end to end: the daemon fetches a bundle from a
// real HTTP server on loopback, and a signed bundle replaces the packaged
// catalogue without a restart; a tampered one, one signed with another key,
// an expired one and an older one are refused while the last good copy keeps
// serving; a restart without network serves the copy on disk at once; a copy
// on disk that was edited is refused in favour of the packaged catalogue.
// Version and review date show in /readyz and the metrics.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, packBundle, parsePrivateKey } from '../../src/control/catalogue/bundle.js';
import { catalogueFromFiles } from '../../src/control/catalogue/index.js';
import { query } from '../support/client.js';
import { startDaemon, type TestDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

const HOUR = 3600_000;
const signer = generateSigningKey();
const key = parsePrivateKey(signer.privatePem);
const otherKey = parsePrivateKey(generateSigningKey().privatePem);

const file = (id: string, name: string, reviewed = '2026-11-30') => ({
  path: `ai/${id}.yaml`,
  text: `services:\n  - id: ${id}\n    name: ${id}\n    vendor: Test\n    country: kr\n    tags: [genai, chat]\n    reviewed: ${reviewed}\n    domains:\n      - { name: ${name}, sources: [review] }\n`,
});
// The packaged catalogue the daemon starts with.
const packaged = catalogueFromFiles([file('packaged-ai', 'packaged.test', '2026-11-01')], { origin: 'packaged', version: '0.1.0' });

let created = Date.now() - HOUR;
const bundle = (id: string, name: string, opts: { signWith?: typeof key; created?: number; expires?: number } = {}) =>
  packBundle([file(id, name)], opts.signWith ?? key, {
    version: id,
    created: new Date(opts.created ?? created++),
    expires: new Date(opts.expires ?? Date.now() + 24 * HOUR),
  });

let upstream: TestUpstream;
let http: Server;
let port = 0;
let serving: Buffer | null = null;
const dataDir = mkdtempSync(join(tmpdir(), 'aifence-catalogue-'));

beforeAll(async () => {
  upstream = await TestUpstream.start();
  http = createServer((_req, res) => {
    if (!serving) return res.writeHead(503).end();
    res.writeHead(200).end(serving);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  port = (http.address() as { port: number }).port;
});
afterAll(async () => {
  http.close();
  await upstream.close();
});

const config = () =>
  `dataDir: ${dataDir}\n` +
  `catalogue: { source: "http://127.0.0.1:${port}/catalogue.json", refresh: 1s, publicKey: "${signer.publicKey}" }\n` +
  'groups:\n  default:\n    block: [tag:genai]\n';

async function eventually(check: () => Promise<boolean>, ms = 8000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) if (await check()) return true;
  return false;
}

const blocked = async (d: TestDaemon, name: string) => (await query(d.port, name)).rcode === 3;

async function readyz(d: TestDaemon): Promise<{ catalogue: Record<string, unknown> }> {
  const admin = d.daemon.adminAddress!;
  return (await (await fetch(`http://127.0.0.1:${admin.port}/readyz`)).json()) as { catalogue: Record<string, unknown> };
}

async function metrics(d: TestDaemon): Promise<string> {
  const admin = d.daemon.adminAddress!;
  return (await fetch(`http://127.0.0.1:${admin.port}/metrics`)).text();
}

describe('signed catalogue updates over loopback HTTP', () => {
  it('a signed bundle replaces the packaged catalogue; bad bundles are refused and the last good one keeps serving', async () => {
    const d = await startDaemon(config(), [upstream.address], { catalogue: packaged });
    try {
      // No bundle yet: the packaged catalogue serves, and says so.
      expect(await blocked(d, 'packaged.test')).toBe(true);
      expect((await readyz(d)).catalogue).toMatchObject({ origin: 'packaged', version: '0.1.0', reviewed: '2026-11-01', services: 1 });

      serving = bundle('first-ai', 'first.test');
      expect(await eventually(() => blocked(d, 'first.test'))).toBe(true);
      expect(await blocked(d, 'packaged.test')).toBe(false);
      expect((await readyz(d)).catalogue).toMatchObject({ origin: 'bundle', version: 'first-ai', reviewed: '2026-11-30', services: 1 });
      expect(await metrics(d)).toMatch(/aifence_catalogue_info\{origin="bundle",version="first-ai",reviewed="2026-11-30"\} 1/);

      // Each bad bundle is refused with its reason; first.test stays blocked throughout.
      const good = bundle('second-ai', 'second.test');
      const env = JSON.parse(good.toString()) as { payload: string };
      env.payload = Buffer.from(Buffer.from(env.payload, 'base64').toString().replace('second.test', 'example.com')).toString('base64');
      const refusals: [string, Buffer, RegExp][] = [
        ['tampered', Buffer.from(JSON.stringify(env)), /signature does not verify/],
        ['wrong key', bundle('third-ai', 'third.test', { signWith: otherKey }), /signature does not verify/],
        ['expired', bundle('fourth-ai', 'fourth.test', { created: Date.now() - 3 * HOUR, expires: Date.now() - HOUR }), /expired/],
        ['older', bundle('fifth-ai', 'fifth.test', { created: Date.now() - 48 * HOUR }), /before the catalogue in use/],
      ];
      for (const [what, body, reason] of refusals) {
        serving = body;
        const since = Date.now();
        const seen = await eventually(async () => {
          const { lastCheck, lastError } = (await readyz(d)).catalogue;
          return Date.parse(String(lastCheck)) > since && reason.test(String(lastError ?? ''));
        });
        expect(seen, what).toBe(true);
        expect(await blocked(d, 'first.test'), what).toBe(true);
        expect((await readyz(d)).catalogue, what).toMatchObject({ origin: 'bundle', version: 'first-ai' });
      }
      expect(await blocked(d, 'example.com')).toBe(false);
      expect(await metrics(d)).toMatch(/aifence_catalogue_updates_total\{result="refused"\} ([4-9]|\d\d)/);

      // A good one after them is taken.
      serving = bundle('sixth-ai', 'sixth.test');
      expect(await eventually(() => blocked(d, 'sixth.test'))).toBe(true);
      expect(await blocked(d, 'first.test')).toBe(false);
    } finally {
      await d.stop();
    }

    // A restart with the server down serves the last good bundle from disk at once.
    serving = null;
    const offline = await startDaemon(config(), [upstream.address], { catalogue: packaged });
    try {
      expect(await blocked(offline, 'sixth.test')).toBe(true);
      expect((await readyz(offline)).catalogue).toMatchObject({ origin: 'bundle', version: 'sixth-ai' });
    } finally {
      await offline.stop();
    }

    // A copy on disk that someone edited is refused: the packaged catalogue serves.
    writeFileSync(join(dataDir, 'catalogue.bundle.json'), bundle('evil-ai', 'evil.test', { signWith: otherKey }));
    const edited = await startDaemon(config(), [upstream.address], { catalogue: packaged });
    try {
      expect(await blocked(edited, 'packaged.test')).toBe(true);
      expect(await blocked(edited, 'evil.test')).toBe(false);
      expect((await readyz(edited)).catalogue).toMatchObject({ origin: 'packaged', copyRefused: expect.stringMatching(/signature does not verify/) });
    } finally {
      await edited.stop();
    }
  }, 60_000);
});
