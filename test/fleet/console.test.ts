// The console at / in a real headless Chromium (Debian's, driven by
// playwright-core): it loads without errors, its charts and totals show the
// queries just made, pause/resume and exceptions work with the token and
// are refused without it, and the history (ranges from the query log) shows
// totals, searches by client, name and service, and who made each
// exception that was used, and why, escaped.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TYPES, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { toolsPresent } from '../support/tools.js';
import { TestUpstream } from '../support/upstream.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const present = toolsPresent(['chromium'], 'chromium');
/** Set SCREENSHOT=path to refresh the README's picture. */
const SCREENSHOT = process.env.SCREENSHOT;

describe.runIf(present)('the console in Chromium', () => {
  let upstream: TestUpstream;
  let d: TestDaemon;
  let browser: Browser;
  let page: Page;
  let base: string;
  const problems: string[] = [];

  beforeAll(async () => {
    upstream = await TestUpstream.start();
    d = await startDaemon(
      'state: { instance: office-dns-1 }\nqueryLog: { mode: all, path: queries.jsonl }\nlists:\n  ai: { source: ai.txt }\n  shadow: { source: shadow.txt }\ngroups:\n  default: { block: [list:ai, list:shadow] }\n  interns: { clients: [10.9.0.0/16], block: [list:ai] }\n',
      [upstream.address],
      { files: { 'ai.txt': 'chat.banned.test\napi.banned.test\n', 'shadow.txt': 'new-ai.test\n' } },
    );
    base = `http://127.0.0.1:${d.daemon.adminAddress!.port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
    page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page: ${err.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await d?.stop();
    await upstream?.close();
  });

  it('loads without errors and charts the blocked queries just made', async () => {
    for (let i = 0; i < 3; i++) expect((await query(d.port, 'chat.banned.test', TYPES.A)).rcode).toBe(3);
    for (let i = 0; i < 2; i++) expect((await query(d.port, 'new-ai.test', TYPES.A)).rcode).toBe(3);
    expect((await query(d.port, 'www.example.org', TYPES.A)).rcode).toBe(0);
    const res = await page.goto(base + '/');
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    await page.waitForLoadState('networkidle');
    const chart = page.locator('figure.chart[data-by="service"]');
    expect(await chart.getAttribute('data-total')).toBe('5');
    expect(await chart.locator('li[data-key="list:ai"]').innerText()).toMatch(/list:ai\s*3/);
    expect(await chart.locator('li[data-key="list:shadow"]').innerText()).toMatch(/list:shadow\s*2/);
    expect(await chart.locator('svg rect').count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('figure.ranking[data-by="client"] g[data-key="127.0.0.1"]').textContent()).toContain('5');
    expect(await page.locator('figure.ranking[data-by="group"] g[data-key="default"]').count()).toBe(1);
    expect(await page.locator('tr[data-group="interns"]').innerText()).toContain('10.9.0.0/16');
    expect(await page.locator('.instance').innerText()).toBe('office-dns-1');
    const live = page.locator('#view p.totals');
    expect(await live.getAttribute('data-queries')).toBe('6');
    expect(await live.getAttribute('data-blocked')).toBe('5');
    expect(await live.getAttribute('data-excepted')).toBe('0');
    expect(problems).toEqual([]);
  });

  it('shows the history of a range from the query log, and searches it by client, name and service', async () => {
    const totals = page.locator('#history-result p.totals');
    const show = async () => {
      await page.locator('#history-form button').click();
      return totals.getAttribute('data-queries', { timeout: 5000 }).catch(() => null);
    };
    // The log is written in batches: ask again until the queries just made are in it.
    await expect.poll(show, { timeout: 10_000 }).toBe('6');
    expect(await page.locator('#history-result .history').getAttribute('data-range')).toBe('24h');
    expect(await totals.getAttribute('data-blocked')).toBe('5');
    expect(await page.locator('#history-result figure.top[data-by="service"] tr[data-key="list:ai"]').innerText()).toMatch(/list:ai\s+3/);
    await page.locator('#history-form select[name="range"]').selectOption('1h');
    await page.locator('#history-form input[name="name"]').fill('NEW-AI');
    await page.locator('#history-form button').click();
    await expect.poll(() => page.locator('#history-result .history').getAttribute('data-range')).toBe('1h');
    await expect.poll(() => totals.getAttribute('data-queries')).toBe('2');
    expect(await page.locator('#history-result table.matches tbody tr').count()).toBe(2);
    expect(await page.locator('#history-result table.matches').innerText()).toContain('new-ai.test');
    await page.locator('#history-form input[name="name"]').fill('');
    await page.locator('#history-form input[name="service"]').fill('list:ai');
    await page.locator('#history-form input[name="client"]').fill('127.0.0.');
    await page.locator('#history-form button').click();
    await expect.poll(() => totals.getAttribute('data-queries')).toBe('3');
    expect(await page.locator('#history-result table.matches').innerText()).toContain('chat.banned.test');
    await page.locator('#history-form input[name="service"]').fill('');
    await page.locator('#history-form input[name="client"]').fill('');
    expect(problems).toEqual([]);
  });

  it('refuses pause without the token; with it, pauses and resumes', async () => {
    await page.locator('tr[data-group="default"] button[data-action="pause"]').click();
    await expect.poll(() => page.locator('#message').innerText()).toContain('Refused: enter the admin token');
    expect(d.daemon.readiness().paused).toEqual([]);
    expect((await query(d.port, 'chat.banned.test', TYPES.A)).rcode).toBe(3);

    const token = readFileSync(join(d.dir, 'data', 'admin.token'), 'utf8').trim();
    await page.locator('#token').fill(token);
    await page.locator('#token-form button').click();
    await page.locator('tr[data-group="default"] button[data-action="pause"]').click();
    await expect.poll(() => d.daemon.readiness().paused.map((p) => p.group)).toEqual(['default']);
    await expect.poll(() => page.locator('tr[data-group="default"] .blocking').innerText()).toContain('paused until');
    expect((await query(d.port, 'chat.banned.test', TYPES.A)).rcode).toBe(0);

    await page.locator('tr[data-group="default"] button[data-action="resume"]').click();
    await expect.poll(() => d.daemon.readiness().paused).toEqual([]);
    await expect.poll(() => page.locator('tr[data-group="default"] .blocking').innerText()).toBe('on');
    expect((await query(d.port, 'api.banned.test', TYPES.A)).rcode).toBe(3);
  });

  it('adds and revokes an exception for a token holder', async () => {
    const form = page.locator('#add-exception');
    await form.locator('select[name="group"]').selectOption('default');
    await form.locator('input[name="select"]').fill('list:shadow');
    await form.locator('input[name="until"]').fill('2h');
    await form.locator('input[name="reason"]').fill('ticket 4711: evaluating <img src=x> new-ai');
    await form.locator('button').click();
    await expect.poll(() => page.locator('table.exceptions').innerText().catch(() => '')).toContain('ticket 4711');
    expect((await query(d.port, 'new-ai.test', TYPES.A)).rcode).toBe(0);
    // Its use: counted as allowed by exception, live and in the history, with who made it and why, as text
    // (beside the query the pause above let through: a pause is accounted for the same way).
    // One history request at a time: a click while one is in flight would leave it running into the
    // reload below, which aborts it (a failed request, under load).
    const result = page.locator('#history-result');
    await expect.poll(async () => {
      if ((await result.getAttribute('aria-busy')) === null) await page.locator('#history-form button').click();
      return result.locator('p.totals').getAttribute('data-excepted');
    }, { timeout: 10_000 }).toBe('2');
    await expect.poll(() => result.getAttribute('aria-busy')).toBeNull();
    const used = page.locator('#history-result figure.top[data-by="exception"]');
    expect(await used.innerText()).toMatch(/exception [0-9a-f]{12} \(token holder at 127\.0\.0\.1: ticket 4711: evaluating <img src=x> new-ai\)\s+1/);
    expect(await used.innerText()).toMatch(/pause\s+1/);
    expect(await page.locator('#history img, #view img').count()).toBe(0);
    await page.reload();
    expect(await page.locator('#view p.totals').getAttribute('data-excepted')).toBe('2');
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.locator('table.exceptions button[data-action="revoke"]').click();
    await expect.poll(() => page.locator('section', { hasText: 'Exceptions made at run time' }).innerText()).toContain('none in force');
    expect((await query(d.port, 'new-ai.test', TYPES.A)).rcode).toBe(3);
    expect(problems.filter((p) => !p.includes('401'))).toEqual([]);
  });

  it('with admin.token set, shows no data until the token is given', async () => {
    const locked = await startDaemon(`admin: { listen: "127.0.0.1:0", token: "console-secret-123" }\n`, [upstream.address]);
    try {
      const p = await browser.newPage();
      await p.goto(`http://127.0.0.1:${locked.daemon.adminAddress!.port}/`);
      expect(await p.locator('body').getAttribute('data-needs-token')).toBe('1');
      expect(await p.locator('figure.chart').count()).toBe(0);
      await p.locator('#token').fill('console-secret-123');
      await p.locator('#token-form button').click();
      await expect.poll(() => p.locator('figure.chart').count()).toBe(1);
      await p.close();
    } finally {
      await locked.stop();
    }
  });
});
