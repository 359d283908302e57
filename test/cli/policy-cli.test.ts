// `aifence check --client` and `aifence groups`: the group, the rule and the
// exception that decided, as an admin reads them.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromText } from '../../src/control/config/load.js';
import { checkName } from '../../src/control/policy/explain.js';
import { buildFilter } from '../../src/control/policy/filter.js';

const CONFIG = `
upstream: { servers: ["127.0.0.1:5399"] }
groups:
  default:
    block: [service:deepseek, tag:cn]
  research:
    clients: [10.30.0.5, 10.30.1.0/24]
    block: [tag:genai]
    allow:
      - { select: service:openai, until: 2027-03-31, reason: "ticket 4711" }
`;

describe('check --client', () => {
  it('names the group, the block rule, and the exception with its expiry', async () => {
    const filter = await buildFilter(configFromText(CONFIG, '/tmp/aifence.yaml'), undefined, Date.UTC(2026, 10, 23));
    const now = Date.UTC(2026, 10, 23);
    const research = await checkName(filter, 'chatgpt.com', '10.30.1.7', now);
    expect(research).toMatchObject({ verdict: 'allowed', group: 'research', rule: { select: 'tag:genai' }, exception: { select: 'service:openai', until: '2027-03-31', reason: 'ticket 4711' } });
    const claude = await checkName(filter, 'claude.ai', '10.30.0.5', now);
    expect(claude).toMatchObject({ verdict: 'blocked', group: 'research', service: 'claude', rule: { select: 'tag:genai' }, exception: null });
    const everyone = await checkName(filter, 'claude.ai', '192.168.1.10', now);
    expect(everyone).toMatchObject({ verdict: 'allowed', group: 'default' });
    const lapsed = await checkName(filter, 'chatgpt.com', '10.30.1.7', Date.UTC(2027, 3, 2));
    expect(lapsed).toMatchObject({ verdict: 'blocked', group: 'research', exception: null });
    expect(await checkName(filter, 'chatgpt.com', '203.0.113.9', now)).toMatchObject({ verdict: 'refused', group: null });
  });
});

describe('aifence groups', () => {
  it('lists prefixes, rules and exceptions with their expiry as JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-groups-'));
    writeFileSync(join(dir, 'aifence.yaml'), CONFIG);
    const out = execFileSync(process.execPath, [resolve('dist/cli.js'), 'groups', '--config', join(dir, 'aifence.yaml'), '--json'], { encoding: 'utf8' });
    const [def, research] = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(def).toMatchObject({ group: 'default', block: [{ select: 'service:deepseek', active: true }, { select: 'tag:cn', active: true }] });
    expect(research).toMatchObject({ group: 'research', clients: ['10.30.0.5', '10.30.1.0/24'], allow: [{ select: 'service:openai', until: '2027-03-31', reason: 'ticket 4711' }] });
  });
});
