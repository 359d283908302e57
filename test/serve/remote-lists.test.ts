// Lists from URLs, served by a real HTTP server on loopback: first download,
// conditional refresh (ETag -> 304), a change picked up without a restart,
// a restart without network that still blocks from the copy on disk, and a
// size limit that keeps the last good copy.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchList } from '../../src/control/remote-lists.js';
import { query } from '../support/client.js';
import { startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

let upstream: TestUpstream;
let http: Server;
let port = 0;
let body = 'first.test\n';
let version = 1;
const requests: { ifNoneMatch?: string; status: number }[] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'aifence-data-'));

beforeAll(async () => {
  upstream = await TestUpstream.start();
  http = createServer((req, res) => {
    const etag = `"v${version}"`;
    const ifNoneMatch = req.headers['if-none-match'];
    const status = ifNoneMatch === etag ? 304 : 200;
    requests.push({ ifNoneMatch, status });
    res.writeHead(status, { etag });
    res.end(status === 200 ? body : undefined);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  port = (http.address() as { port: number }).port;
});
afterAll(async () => {
  http.close();
  await upstream.close();
});

const config = () => `dataDir: ${dataDir}\nlists:\n  remote: { source: "http://127.0.0.1:${port}/list.txt", refresh: 1s }\n`;

async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) if (await check()) return true;
  return false;
}

describe('URL lists', () => {
  it('downloads, refreshes conditionally, picks up changes, and survives a restart without network', async () => {
    const d = await startDaemon(config(), [upstream.address]);
    try {
      expect(await eventually(async () => (await query(d.port, 'x.first.test')).rcode === 3)).toBe(true);
      // The next refresh asks with the ETag and gets 304.
      expect(await eventually(async () => requests.some((r) => r.status === 304 && r.ifNoneMatch === '"v1"'))).toBe(true);
      body = 'second.test\n';
      version = 2;
      expect(await eventually(async () => (await query(d.port, 'second.test')).rcode === 3)).toBe(true);
      expect((await query(d.port, 'first.test')).rcode).toBe(0);
    } finally {
      await d.stop();
    }
    http.close();
    const started = Date.now();
    const offline = await startDaemon(config(), [upstream.address]);
    try {
      expect((await query(offline.port, 'second.test')).rcode).toBe(3);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await offline.stop();
    }
  });

  it('refuses a download over maxSize and keeps the copy it had', async () => {
    // One answer declares its length, the other streams without one: both are cut off.
    const server = createServer((req, res) => {
      if (req.url === '/declared') return res.end('x'.repeat(5000));
      for (let i = 0; i < 50; i++) res.write('y'.repeat(100));
      res.end();
    }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const file = join(dataDir, 'big.txt');
    writeFileSync(file, 'kept.test\n');
    try {
      for (const path of ['/declared', '/streamed']) {
        const spec = { name: 'big', url: `http://127.0.0.1:${(server.address() as { port: number }).port}${path}`, file, refresh: 60, maxBytes: 1000 };
        await expect(fetchList(spec)).rejects.toThrow(/over its maxSize of 1000 bytes/);
        expect(readFileSync(file, 'utf8')).toBe('kept.test\n');
      }
    } finally {
      server.close();
    }
  });
});
