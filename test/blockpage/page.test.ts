// The block page as curl sees it: blocked names resolve to the page's
// address (per group: another group keeps NXDOMAIN), the page verifies
// against the organisation's CA for every blocked name over HTTPS, speaks the
// browser's language, gives API clients JSON with 451, never echoes a hostile
// Host as markup, takes access requests from its own form only, limits a
// client that floods it, and an approval by the admin API lets that client,
// and only that client, through, with both in the audit trail.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../src/control/catalogue/index.js';
import { renderView } from '../../src/control/admin/console/render.js';
import { TYPES, query } from '../support/client.js';
import { makeCa } from '../support/certs.js';
import { curl, curlStatuses } from '../support/curl.js';
import { adminCall } from '../support/admin.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { toolsPresent } from '../support/tools.js';
import { TestUpstream } from '../support/upstream.js';

const present = toolsPresent(['curl', 'openssl'], 'curl openssl');
const TOKEN = 'blockpage-admin-token-123';

describe.runIf(present)('the block page over HTTP and HTTPS', () => {
  let upstream: TestUpstream;
  let d: TestDaemon;
  let ca: string;
  let http: number;
  let https: number;

  beforeAll(async () => {
    upstream = await TestUpstream.start();
    upstream.behave = () => ({ kind: 'answer', address: '192.0.2.44' });
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const caDir = mkdtempSync(join(tmpdir(), 'aifence-ca-'));
    const made = makeCa(caDir);
    ca = made.cert;
    d = await startDaemon(
      `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }
blocking: { mode: page, ttl: 1s }
blockPage:
  http: ["127.0.0.1:0"]
  https: ["127.0.0.1:0"]
  answer: { ipv4: 127.0.0.1, ipv6: "::1" }
  ca: { cert: ${made.cert}, key: ${made.key} }
  organisation: Ministry of Examples
  contact: helpdesk@example.org, ext. 4711
  message: Generative AI services are not allowed on this network (circular 2026/12).
  requests: on
queryLog: { mode: blocked, path: queries.jsonl }
identity: { hosts: { 127.0.0.1: admin-laptop } }
groups:
  default: { block: [service:deepseek] }
  interns: { clients: [127.0.0.64/26], block: [service:deepseek], answer: nxdomain }
`,
      [upstream.address],
      { catalogue: loadCatalogue() },
    );
    http = d.daemon.blockPageAddresses.http[0].port;
    https = d.daemon.blockPageAddresses.https[0].port;
  }, 60_000);

  afterAll(async () => {
    await d?.stop();
    await upstream?.close();
  });

  const resolveTo = (name: string, port: number) => ['--resolve', `${name}:${port}:127.0.0.1`];
  const page = (name: string, extra: string[] = [], scheme: 'http' | 'https' = 'https') =>
    curl([...resolveTo(name, scheme === 'https' ? https : http), '--cacert', ca, '-H', 'Accept: text/html', ...extra, `${scheme}://${name}:${scheme === 'https' ? https : http}/`]);
  const api = (method: string, path: string) => adminCall(d.daemon.adminAddress!.port, TOKEN, method, path);

  it('answers A and AAAA of blocked names with the page, other types with no records, EDE 15 on each; another group keeps NXDOMAIN', async () => {
    const a = await query(d.port, 'chat.deepseek.com', TYPES.A, { edns: 1232 });
    expect(a.rcode).toBe(0);
    expect(a.packet.answers.map((r: any) => r.address)).toEqual(['127.0.0.1']);
    expect(a.raw.toString('latin1')).toContain('blocked by aifence: service:deepseek');
    const aaaa = await query(d.port, 'chat.deepseek.com', TYPES.AAAA);
    expect(aaaa.packet.answers.map((r: any) => r.address)).toEqual(['::1']);
    const https = await query(d.port, 'chat.deepseek.com', TYPES.HTTPS);
    expect(https.rcode).toBe(0);
    expect(https.packet.answers).toEqual([]);
    expect((await query(d.port, 'chat.deepseek.com', TYPES.A, { from: '127.0.0.65' })).rcode).toBe(3);
  });

  it('shows the page over HTTPS with a certificate from the CA for any blocked name, and over HTTP', async () => {
    for (const name of ['chat.deepseek.com', 'deepseek.com', 'api.deepseek.com', 'a.b.c.chat.deepseek.com']) {
      const r = await page(name);
      expect(r.exit, `${name}: curl exit ${r.exit}`).toBe(0);
      expect(r.status).toBe(451);
      expect(r.body).toContain('DeepSeek is blocked on this network');
      expect(r.body).toContain(`<dd data-fact="name">${name}</dd>`);
    }
    const r = await page('chat.deepseek.com');
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['content-security-policy']).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; img-src data:; form-action 'self'; frame-ancestors 'none'/);
    for (const text of ['Ministry of Examples', 'helpdesk@example.org, ext. 4711', 'circular 2026/12', 'data-fact="rule">service:deepseek', 'data-fact="group">default', 'data-fact="vendor">DeepSeek']) expect(r.body).toContain(text);
    expect(r.body).toMatch(/data-fact="reference">[2-9A-Z]{4}-[2-9A-Z]{4}</);
    expect(r.body).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);

    const plain = await page('chat.deepseek.com', [], 'http');
    expect(plain.status).toBe(451);
    expect(plain.body).toContain('DeepSeek is blocked on this network');
  });

  it('presents no CA certificate for a name the policy does not block', async () => {
    const r = await curl([...resolveTo('www.example.org', https), '--cacert', ca, `https://www.example.org:${https}/`]);
    expect(r.exit).toBe(60); // the default certificate names the page's addresses only
    const byAddress = await curl(['--cacert', ca, '-H', 'Accept: text/html', `https://127.0.0.1:${https}/`]);
    expect(byAddress.exit).toBe(0);
    expect(byAddress.body).toContain('This site is blocked on this network');
  });

  it('speaks the browser\'s language', async () => {
    const cases: [string, string][] = [
      ['ko-KR,ko;q=0.9,en;q=0.5', '이 네트워크에서는 DeepSeek에 접속할 수 없습니다'],
      ['nl-BE,nl;q=0.9', 'DeepSeek is geblokkeerd op dit netwerk'],
      ['fr-FR,fr;q=0.9', 'DeepSeek est bloqué sur ce réseau'],
      ['de-DE,de;q=0.9', 'DeepSeek ist in diesem Netzwerk gesperrt'],
      ['ja,en-US;q=0.8', 'このネットワークでは DeepSeek を利用できません'],
      ['pt-BR,pt;q=0.9,de;q=0.3', 'DeepSeek ist in diesem Netzwerk gesperrt'],
      ['xx', 'DeepSeek is blocked on this network'],
    ];
    for (const [header, heading] of cases) {
      const r = await page('chat.deepseek.com', ['-H', `Accept-Language: ${header}`]);
      expect(r.body, header).toContain(`<h1>${heading}</h1>`);
    }
  });

  it('gives API clients a JSON 451 with the same facts', async () => {
    const get = await curl([...resolveTo('api.deepseek.com', https), '--cacert', ca, `https://api.deepseek.com:${https}/v1/models`]);
    expect(get.status).toBe(451);
    expect(get.headers['content-type']).toBe('application/json');
    const body = JSON.parse(get.body);
    expect(body).toMatchObject({ error: 'blocked', name: 'api.deepseek.com', service: 'deepseek', serviceName: 'DeepSeek', group: 'default', rule: 'service:deepseek', organisation: 'Ministry of Examples' });
    const post = await curl([
      ...resolveTo('api.deepseek.com', https), '--cacert', ca, '-X', 'POST', '-H', 'Content-Type: application/json', '-H', 'Accept: application/json',
      '--data', '{"model":"deepseek-chat","messages":[]}', `https://api.deepseek.com:${https}/v1/chat/completions`,
    ]);
    expect(post.status).toBe(451);
    expect(JSON.parse(post.body).service).toBe('deepseek');
  });

  it('never echoes a 10 KB hostile Host as markup', async () => {
    const hostile = '<script>alert(1)</script>'.repeat(400); // 10,400 bytes
    for (const host of [hostile, `chat.deepseek.com<img src=x onerror=alert(1)>`, `chat.deepseek.com\u202e<b>`]) {
      const r = await curl(['-H', `Host: ${host}`, '-H', 'Accept: text/html', `http://127.0.0.1:${http}/`]);
      expect(r.status).toBe(451);
      expect(r.body).not.toContain('<script');
      expect(r.body).not.toContain('<img');
      expect(r.body).not.toContain('<b>');
      expect(r.body.length).toBeLessThan(8000);
      expect(r.body).toContain('This site is blocked on this network');
    }
    const json = await curl(['-H', `Host: ${hostile}`, `http://127.0.0.1:${http}/`]);
    expect(json.body).not.toContain('<script');
  });

  it('takes an access request from its own form only, shows its status on reload, and limits a flood', async () => {
    const form = await page('chat.deepseek.com');
    const token = /name="token" value="([^"]+)"/.exec(form.body)![1];
    const origin = `https://chat.deepseek.com:${https}`;
    const post = (extra: string[], data = `token=${token}&reason=Evaluating+the+model+for+ticket+4711&duration=1d`) =>
      curl([...resolveTo('chat.deepseek.com', https), '--cacert', ca, '-H', 'Accept: text/html', '-X', 'POST', '--data', data, ...extra, `${origin}/request`]);

    // Another site's form, a request with neither Origin nor Sec-Fetch-Site, a foreign token: refused, nothing recorded.
    expect((await post(['-H', 'Origin: https://evil.example', '-H', 'Sec-Fetch-Site: cross-site'])).status).toBe(403);
    expect((await post(['-H', `Origin: ${origin}`, '-H', 'Sec-Fetch-Site: cross-site'])).status).toBe(403);
    expect((await post([])).status).toBe(403);
    const forged = await post(['-H', `Origin: ${origin}`], 'token=forged&reason=x&duration=1d');
    expect(forged.status).toBe(403);
    expect(forged.body).toContain('data-notice="expired"');
    expect((await api('GET', '/requests')).body.requests).toEqual([]);

    const sent = await post(['-H', `Origin: ${origin}`, '-H', 'Sec-Fetch-Site: same-origin']);
    expect(sent.status).toBe(303);
    expect(sent.headers.location).toBe('/');
    const listed = (await api('GET', '/requests')).body.requests;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ client: '127.0.0.1', clientName: 'admin-laptop', name: 'chat.deepseek.com', service: 'deepseek', group: 'default', reason: 'Evaluating the model for ticket 4711', duration: '1d', status: 'pending' });
    expect(Date.parse(listed[0].created)).toBeGreaterThan(Date.now() - 60_000);
    const reload = await page('chat.deepseek.com');
    expect(reload.body).toContain('data-status="pending"');
    expect(reload.body).not.toContain('<form');

    // A flood from one client: a few through, the rest 429, and still one request.
    const statuses = await curlStatuses([...resolveTo('chat.deepseek.com', https), '--cacert', ca, '-X', 'POST', '-H', `Origin: ${origin}`, '--data', `token=${token}&reason=again&duration=1h`], `${origin}/request`, 40);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(30);
    expect((await api('GET', '/requests')).body.requests).toHaveLength(1);
    const metrics = await fetch(`http://127.0.0.1:${d.daemon.adminAddress!.port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.text());
    expect(metrics).toMatch(/aifence_access_requests_total\{event="created"\} 1/);
    expect(metrics).toMatch(/aifence_access_requests_total\{event="limited"\} (3\d|40)/);
    expect(metrics).toMatch(/aifence_access_requests_pending 1/);
  });

  it('approval opens the name for that client only; denial is shown; both are in the audit trail', async () => {
    const id = (await api('GET', '/requests')).body.requests[0].id;
    const approved = await api('POST', `/requests/${id}/approve?duration=2h`);
    expect(approved.status).toBe(200);
    expect(approved.body.request).toMatchObject({ status: 'approved', by: 'token holder at 127.0.0.1' });
    expect(approved.body.exception).toMatchObject({ client: '127.0.0.1', select: 'service:deepseek', group: 'default' });
    expect(Date.parse(approved.body.exception.until) - Date.now()).toBeGreaterThan(7000e3);
    expect((await api('POST', `/requests/${id}/approve`)).status).toBe(409);

    const mine = await query(d.port, 'chat.deepseek.com', TYPES.A, { from: '127.0.0.1' });
    expect(mine.packet.answers.map((r: any) => r.address)).toEqual(['192.0.2.44']);
    const theirs = await query(d.port, 'chat.deepseek.com', TYPES.A, { from: '127.0.0.2' });
    expect(theirs.packet.answers.map((r: any) => r.address)).toEqual(['127.0.0.1']);
    const reload = await page('chat.deepseek.com');
    expect(reload.body).toContain('data-status="approved"');

    // Another client asks, and is denied.
    const theirForm = await page('chat.deepseek.com', ['--interface', '127.0.0.2']);
    const token = /name="token" value="([^"]+)"/.exec(theirForm.body)![1];
    const origin = `https://chat.deepseek.com:${https}`;
    const sent = await curl([...resolveTo('chat.deepseek.com', https), '--cacert', ca, '--interface', '127.0.0.2', '-X', 'POST', '-H', `Origin: ${origin}`, '--data', `token=${token}&reason=me+too&duration=1h`, `${origin}/request`]);
    expect(sent.status).toBe(303);
    const theirRequest = (await api('GET', '/requests')).body.requests.find((r: any) => r.client === '127.0.0.2');
    expect((await api('POST', `/requests/${theirRequest.id}/deny`)).body.request).toMatchObject({ status: 'denied', by: 'token holder at 127.0.0.1' });
    const denied = await page('chat.deepseek.com', ['--interface', '127.0.0.2']);
    expect(denied.body).toContain('data-status="denied"');
    expect(denied.body).toContain('<form'); // may ask again
    expect((await query(d.port, 'chat.deepseek.com', TYPES.A, { from: '127.0.0.2' })).packet.answers.map((r: any) => r.address)).toEqual(['127.0.0.1']);

    await expect.poll(() => auditLines(d.dir).length, { timeout: 5000 }).toBe(4);
    const audit = auditLines(d.dir);
    // Who asked, by name where identity knows it (kept with the request, so the decision names them too).
    expect(audit.map((e) => [e.event, e.client, e.clientName])).toEqual([
      ['access-request', '127.0.0.1', 'admin-laptop'],
      ['access-approved', '127.0.0.1', 'admin-laptop'],
      ['access-request', '127.0.0.2', undefined],
      ['access-denied', '127.0.0.2', undefined],
    ]);
    expect(renderView(d.daemon.consoleData())).toContain('<td>admin-laptop (127.0.0.1)</td>');
    expect(audit[1]).toMatchObject({ request: id, by: 'token holder at 127.0.0.1', service: 'deepseek', name: 'chat.deepseek.com', duration: '2h', exception: approved.body.exception.id });
    // aifence report reads past them: they are the log's own lines, not broken ones.
    const report = JSON.parse(execFileSync(process.execPath, [resolve('dist/cli.js'), 'report', '--log', join(d.dir, 'queries.jsonl'), '--format', 'json'], { encoding: 'utf8' }));
    expect(report.bad).toBe(0);
  });
});

function auditLines(dir: string): Record<string, string>[] {
  let text = '';
  try {
    text = readFileSync(join(dir, 'queries.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.includes('"event":"access-')).map((l) => JSON.parse(l));
}
