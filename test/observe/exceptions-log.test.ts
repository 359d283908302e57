// Every exception accounted for, from outside: the daemon in its own process
// with two worker threads (events cross the shared ring), a config allow
// rule and a runtime exception made through the API. An allowed query that
// a block would have stopped is logged, even in `mode: blocked`, with the
// service it would have been blocked as and what let it through; `aifence
// report --exceptions` counts the uses per exception, client and service.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../support/client.js';
import { type DaemonProcess, spawnDaemon } from '../support/process.js';
import { TestUpstream } from '../support/upstream.js';

const run = promisify(execFile);
const LAB = '127.0.0.3';
let upstream: TestUpstream;
let d: DaemonProcess;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  d = await spawnDaemon(`
upstream: { servers: ["${upstream.address}"], timeout: 1s }
workers: 2
queryLog: { mode: blocked, path: queries.jsonl }
groups:
  default: { block: [service:deepseek] }
  lab:
    clients: [${LAB}/32]
    block: [tag:genai]
    allow: [{ select: service:copilot, reason: "office suite" }]
`);
});
afterAll(async () => {
  d?.stop();
  await upstream.close();
});

const log = () => join(d.dir, 'queries.jsonl');
const entries = () => {
  try {
    return readFileSync(log(), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch {
    return [];
  }
};

describe('exception use in the query log', () => {
  let id = '';

  it('logs an allowed query with the service it would have been blocked as and the exception that let it through', async () => {
    const token = readFileSync(join(d.dir, 'data', 'admin.token'), 'utf8').trim();
    const made = await fetch(`http://127.0.0.1:${d.adminPort}/exceptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ group: 'lab', select: 'service:openai', until: '2h', reason: 'ticket 4711' }),
    });
    expect(made.status).toBe(201);
    id = ((await made.json()) as { id: string }).id;
    for (let i = 0; i < 3; i++) expect((await query(d.port, 'chatgpt.com', 1, { from: LAB })).rcode).toBe(0);
    expect((await query(d.port, 'copilot.microsoft.com', 1, { from: LAB })).rcode).toBe(0);
    expect((await query(d.port, 'claude.ai', 1, { from: LAB })).rcode).toBe(3);
    expect((await query(d.port, 'www.example.org', 1, { from: LAB })).rcode).toBe(0);
    for (let i = 0; i < 50 && entries().length < 5; i++) await new Promise((r) => setTimeout(r, 100));
    const lines = entries();
    const chat = lines.filter((e) => e.name === 'chatgpt.com');
    expect(chat).toHaveLength(3);
    expect(chat[0]).toMatchObject({ client: LAB, group: 'lab', verdict: 'allowed', service: 'openai', list: 'service:openai', exception: `exception ${id} (token holder at 127.0.0.1: ticket 4711)` });
    expect(lines.find((e) => e.name === 'copilot.microsoft.com')).toMatchObject({ verdict: 'allowed', service: 'copilot', exception: 'allow service:copilot (office suite)' });
    expect(lines.find((e) => e.name === 'claude.ai')).toMatchObject({ verdict: 'blocked', service: 'claude' });
    expect(lines.find((e) => e.name === 'claude.ai')).not.toHaveProperty('exception');
    // mode: blocked keeps the policy's decisions only: an allowed name no block concerns is not among them.
    expect(lines.find((e) => e.name === 'www.example.org')).toBeUndefined();
  });

  it('report --exceptions counts the uses per exception, client and service', async () => {
    const { stdout } = await run(process.execPath, [resolve('dist/cli.js'), 'report', '--exceptions', '--log', log(), '--format', 'json']);
    const report = JSON.parse(stdout) as { rows: Record<string, unknown>[]; matched: number };
    expect(report.matched).toBe(4);
    expect(report.rows).toEqual([
      { exception: 'allow service:copilot (office suite)', group: 'lab', client: '-', address: LAB, service: 'copilot', queries: 1, first: expect.any(String), last: expect.any(String) },
      { exception: `exception ${id} (token holder at 127.0.0.1: ticket 4711)`, group: 'lab', client: '-', address: LAB, service: 'openai', queries: 3, first: expect.any(String), last: expect.any(String) },
    ]);
    const table = (await run(process.execPath, [resolve('dist/cli.js'), 'report', '--exceptions', '--log', log()])).stdout;
    expect(table.split('\n')[0]).toMatch(/^exception\s+group\s+client\s+address\s+service\s+queries\s+first\s+last$/);
    expect(table).toMatch(new RegExp(`exception ${id} \\(token holder at 127\\.0\\.0\\.1: ticket 4711\\)\\s+lab\\s+-\\s+127\\.0\\.0\\.3\\s+openai\\s+3`));
  });
});
