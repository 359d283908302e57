// Decisions on access requests under the policy's rules: a named admin's
// approval records the name; an enforced service offers no form and takes
// no request; and a request whose service became enforced after it was made
// cannot be approved (409, as POST /exceptions answers), it stays waiting.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../src/control/catalogue/index.js';
import { adminCall } from '../support/admin.js';
import { TYPES, query } from '../support/client.js';
import { curl } from '../support/curl.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { toolsPresent } from '../support/tools.js';
import { TestUpstream } from '../support/upstream.js';

const present = toolsPresent(['curl'], 'curl');
const ALICE = 'alice-admin-token-0123456789';

describe.runIf(present)('deciding access requests', () => {
  let upstream: TestUpstream;
  let d: TestDaemon;
  let port: number;

  beforeAll(async () => {
    upstream = await TestUpstream.start();
    upstream.behave = () => ({ kind: 'answer', address: '192.0.2.30' });
    d = await startDaemon(
      `admin: { listen: "127.0.0.1:0", tokens: { alice: { sha256: ${createHash('sha256').update(ALICE).digest('hex')} } } }
blocking: { mode: page }
blockPage: { http: ["127.0.0.1:0"], answer: { ipv4: 127.0.0.1 }, requests: on }
enforce: [service:deepseek]
groups:
  default: { block: [tag:genai] }
`,
      [upstream.address],
      { catalogue: loadCatalogue() },
    );
    port = d.daemon.blockPageAddresses.http[0].port;
  }, 60_000);

  afterAll(async () => {
    await d?.stop();
    await upstream?.close();
  });

  const api = (method: string, path: string) => adminCall(d.daemon.adminAddress!.port, ALICE, method, path);
  const page = (name: string, from: string) => curl(['--resolve', `${name}:${port}:127.0.0.1`, '--interface', from, '-H', 'Accept: text/html', `http://${name}:${port}/`]);
  const ask = async (name: string, from: string) => {
    const token = /name="token" value="([^"]+)"/.exec((await page(name, from)).body)?.[1] ?? 'none';
    return curl(['--resolve', `${name}:${port}:127.0.0.1`, '--interface', from, '-H', 'Accept: text/html', '-H', `Origin: http://${name}:${port}`, '--data', `token=${token}&reason=work&duration=1d`, `http://${name}:${port}/request`]);
  };

  it('records the named admin who approved', async () => {
    expect((await ask('chatgpt.com', '127.0.0.21')).status).toBe(303);
    const id = (await api('GET', '/requests')).body.requests[0].id;
    const approved = await api('POST', `/requests/${id}/approve`);
    expect(approved.status).toBe(200);
    expect(approved.body.request.by).toBe('alice');
    expect(approved.body.exception.author).toBe('alice');
    expect((await query(d.port, 'chatgpt.com', TYPES.A, { from: '127.0.0.21' })).packet.answers.map((r: any) => r.address)).toEqual(['192.0.2.30']);
  });

  it('offers no form for an enforced service and takes no request for it', async () => {
    const shown = await page('chat.deepseek.com', '127.0.0.23');
    expect(shown.body).toContain('data-enforced="1"');
    expect(shown.body).not.toContain('<form');
    const sent = await ask('chat.deepseek.com', '127.0.0.23');
    expect(sent.status).toBe(409);
    expect((await api('GET', '/requests')).body.requests.some((r: any) => r.client === '127.0.0.23')).toBe(false);
  });

  it('refuses to approve a request whose service became enforced since; it stays waiting', async () => {
    expect((await ask('claude.ai', '127.0.0.22')).status).toBe(303);
    const id = (await api('GET', '/requests')).body.requests.find((r: any) => r.client === '127.0.0.22').id;
    const file = join(d.dir, 'aifence.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('enforce: [service:deepseek]', 'enforce: [service:deepseek, service:claude]'));
    expect((await d.daemon.reload()).ok).toBe(true);
    const refused = await api('POST', `/requests/${id}/approve`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toContain('is enforced');
    expect((await api('GET', '/requests')).body.requests.find((r: any) => r.id === id).status).toBe('pending');
    expect((await query(d.port, 'claude.ai', TYPES.A, { from: '127.0.0.22' })).packet.answers.map((r: any) => r.address)).toEqual(['127.0.0.1']);
  });
});
