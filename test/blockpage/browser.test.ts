// The block page in a real headless Chromium that trusts the organisation's
// CA (an NSS database made with certutil, as a managed device has it) and
// resolves through aifence as an office's browsers do: its /etc/resolv.conf
// names aifence (port 53), bind-mounted in a mount namespace of its own so
// the machine's is untouched. (Chromium takes DNS-over-HTTPS servers only
// from machine-wide policy files, which other tests' browsers would see.)
// https://chat.deepseek.com shows the page with the service's name and no
// certificate warning; the form makes a request; the console lists it for a
// token holder, whose Approve opens the name for that browser (the real site
// loads) and for no other client.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../src/control/catalogue/index.js';
import { TYPES, query } from '../support/client.js';
import { makeCa, makeIssuedCert } from '../support/certs.js';
import { adminCall } from '../support/admin.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { toolsPresent } from '../support/tools.js';
import { TestUpstream } from '../support/upstream.js';

const CHROMIUM = '/usr/bin/chromium';
const present = toolsPresent(['chromium', 'certutil', 'openssl', 'unshare'], 'chromium libnss3-tools openssl util-linux') && asRoot();
const TOKEN = 'browser-admin-token-123';
/** Set SCREENSHOTS=DIR to refresh docs/block-page.png and docs/console-requests.png. */
const SCREENSHOTS = process.env.SCREENSHOTS;
/** Where "the real chat.deepseek.com" answers, as the test upstream says it does. */
const REAL_SITE = '127.0.0.9';

describe.runIf(present)('the block page in Chromium, resolving through aifence', () => {
  let upstream: TestUpstream;
  let d: TestDaemon;
  let browser: Browser;
  let context: BrowserContext;
  let realSite: ReturnType<typeof createServer>;
  let port: number;
  let admin: string;
  const problems: string[] = [];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-browser-'));
    const ca = makeCa(dir, 'Ministry of Examples CA');
    // A device that trusts the organisation's CA: its NSS database, where Chromium on Linux looks (HOME/.pki/nssdb).
    const home = join(dir, 'home');
    const nss = join(home, '.pki', 'nssdb');
    mkdirSync(nss, { recursive: true });
    execFileSync('certutil', ['-N', '-d', `sql:${nss}`, '--empty-password']);
    execFileSync('certutil', ['-A', '-d', `sql:${nss}`, '-n', 'Ministry of Examples CA', '-t', 'C,,', '-i', ca.cert]);
    const site = makeIssuedCert(dir, 'site', ca, { dns: ['chat.deepseek.com'] });

    upstream = await TestUpstream.start();
    upstream.behave = (name) => ({ kind: 'answer', address: name === 'chat.deepseek.com' ? REAL_SITE : '192.0.2.1' });
    // The browser's resolver: aifence on port 53 of a loopback address of its own.
    const resolver = `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    d = await startDaemon(
      `listen: ["127.0.0.1:0", "${resolver}:53"]
admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }
blocking: { mode: page, ttl: 1s }
blockPage:
  https: ["127.0.0.1:0"]
  answer: { ipv4: 127.0.0.1 }
  ca: { cert: ${ca.cert}, key: ${ca.key} }
  organisation: Ministry of Examples
  contact: AI desk, ext. 4711 (ai-desk@example.org)
  message: Generative AI services that keep data abroad are not allowed on this network (circular 2026/12). Ask below if your work needs one.
  requests: on
queryLog: { mode: all, path: queries.jsonl }
groups:
  default: { block: [service:deepseek, tag:cn] }
`,
      [upstream.address],
      { catalogue: loadCatalogue() },
    );
    port = d.daemon.blockPageAddresses.https[0].port;
    admin = `http://127.0.0.1:${d.daemon.adminAddress!.port}`;
    // The real site, where the name resolves once access is granted: same port, another address.
    realSite = createServer({ cert: readFileSync(site.cert), key: readFileSync(site.key) }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', connection: 'close' });
      res.end('<!doctype html><title>DeepSeek</title><h1 id="real">the real chat.deepseek.com</h1>');
    });
    await new Promise<void>((resolve, reject) => realSite.once('error', reject).listen(port, REAL_SITE, () => resolve()));

    // Chromium in a mount namespace where /etc/resolv.conf names aifence: every name it resolves, aifence answered.
    const resolvConf = join(dir, 'resolv.conf');
    writeFileSync(resolvConf, `nameserver ${resolver}\noptions timeout:2 attempts:1\n`);
    const wrapper = join(dir, 'chromium');
    writeFileSync(wrapper, `#!/bin/sh\nexec unshare --mount --propagation private sh -c 'mount --bind "$AIFENCE_RESOLV_CONF" /etc/resolv.conf && exec ${CHROMIUM} "$@"' chromium "$@"\n`);
    chmodSync(wrapper, 0o755);
    browser = await chromium.launch({
      executablePath: wrapper,
      headless: true,
      env: { ...process.env, HOME: home, AIFENCE_RESOLV_CONF: resolvConf },
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    context = await browser.newContext({ viewport: { width: 900, height: 900 }, locale: 'en-US' });
    context.on('weberror', (e) => problems.push(`page error: ${e.error().message}`));
    context.on('console', (m) => {
      // The page's 451 is its status, not a failure: Chromium notes every non-2xx page in the console.
      if (m.type() === 'error' && !m.text().includes('status of 451')) problems.push(`console: ${m.text()}`);
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    realSite?.close();
    await d?.stop();
    await upstream?.close();
  });

  it('shows the page for https://chat.deepseek.com, trusted, with the service name; the form makes a request', async () => {
    const tab = await context.newPage();
    const res = await tab.goto(`https://chat.deepseek.com:${port}/`);
    expect(res?.status()).toBe(451);
    // The certificate verified: Chromium reached the page over HTTPS without an interstitial.
    const tls = await res!.securityDetails();
    expect(tls?.subjectName).toBe('chat.deepseek.com');
    expect(tls?.issuer).toBe('Ministry of Examples CA');
    expect(await tab.locator('h1').innerText()).toBe('DeepSeek is blocked on this network');
    expect(await tab.locator('[data-fact="vendor"]').innerText()).toBe('DeepSeek');
    expect(await tab.locator('[data-fact="rule"]').innerText()).toBe('service:deepseek');
    // The name was resolved by aifence: its query log has the browser's query, blocked.
    await expect.poll(() => loggedQueries(d.dir, 'chat.deepseek.com', 'blocked'), { timeout: 5000 }).toBeGreaterThan(0);
    if (SCREENSHOTS) await tab.screenshot({ path: join(SCREENSHOTS, 'block-page.png'), fullPage: true });

    await tab.locator('textarea[name="reason"]').fill('Comparing its translations of the 2026 budget summary, ticket 4711');
    await tab.locator('select[name="duration"]').selectOption('8h');
    await tab.locator('form.ask button').click();
    await tab.waitForLoadState('load');
    await expect.poll(() => tab.locator('[data-status]').getAttribute('data-status')).toBe('pending');
    const requests = (await adminCall(d.daemon.adminAddress!.port, TOKEN, 'GET', '/requests')).body.requests;
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ client: '127.0.0.1', name: 'chat.deepseek.com', service: 'deepseek', duration: '8h', status: 'pending' });
    await tab.close();
    expect(problems).toEqual([]);
  });

  it('lists the request in the console; Approve lets this browser through to the real site, and no other client', async () => {
    const consoleTab = await context.newPage();
    await consoleTab.goto(`${admin}/`);
    await consoleTab.locator('#token').fill(TOKEN);
    await consoleTab.locator('#token-form button').click();
    const row = consoleTab.locator('table.requests tr[data-request]');
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.innerText()).toContain('Comparing its translations');
    expect(await row.innerText()).toContain('chat.deepseek.com');
    if (SCREENSHOTS) await consoleTab.locator('section.access').screenshot({ path: join(SCREENSHOTS, 'console-requests.png') });

    await row.locator('button[data-action="approve"]').click();
    await expect.poll(() => consoleTab.locator('table.decided tr[data-status="approved"]').count()).toBe(1);
    await consoleTab.close();

    // This browser (client 127.0.0.1) now gets the upstream's answer: the real site. A new window (browser
    // context) asks the DNS afresh, as the tab would once Chromium's host cache lets the block answer go.
    const fresh = await browser.newContext({ viewport: { width: 900, height: 600 } });
    const tab = await fresh.newPage();
    await tab.goto(`https://chat.deepseek.com:${port}/`);
    expect(await tab.locator('#real').innerText()).toBe('the real chat.deepseek.com');
    await fresh.close();
    // Another client still gets the page's address.
    expect((await query(d.port, 'chat.deepseek.com', TYPES.A, { from: '127.0.0.2' })).packet.answers.map((r: any) => r.address)).toEqual(['127.0.0.1']);
    expect((await query(d.port, 'chat.deepseek.com', TYPES.A, { from: '127.0.0.1' })).packet.answers.map((r: any) => r.address)).toEqual([REAL_SITE]);
    await expect.poll(() => loggedQueries(d.dir, 'chat.deepseek.com', 'allowed'), { timeout: 5000 }).toBeGreaterThan(0);
  });
});

/** Queries for `name` from 127.0.0.1 with that verdict, from the query log. */
function loggedQueries(dir: string, name: string, verdict: string): number {
  let text = '';
  try {
    text = readFileSync(join(dir, 'queries.jsonl'), 'utf8');
  } catch {
    return 0;
  }
  return text.split('\n').filter((l) => l.includes(`"client":"127.0.0.1"`) && l.includes(`"name":"${name}"`) && l.includes(`"verdict":"${verdict}"`)).length;
}

/** The browser's resolver listens on port 53 and Chromium runs in a mount namespace: both need root (CI runs as root). */
function asRoot(): boolean {
  if (process.getuid?.() === 0) return true;
  if (process.env.CI) throw new Error('the block page browser test needs root (port 53, a mount namespace for /etc/resolv.conf)');
  console.warn('skipped: the block page browser test needs root (port 53, a mount namespace for /etc/resolv.conf)');
  return false;
}
