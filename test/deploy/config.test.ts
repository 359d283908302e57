// Config mistakes a new admin makes on the first day, each caught with the
// key, the value and the fix; and the default policy the README promises
// when the config has no `groups`.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkName } from '../../src/control/policy/explain.js';
import { configFromText } from '../../src/control/config/load.js';
import { policySummary } from '../../src/control/config/summary.js';
import { buildFilter } from '../../src/control/policy/filter.js';

const dir = mkdtempSync(join(tmpdir(), 'aifence-config-'));
const UPSTREAM = 'upstream: { servers: ["192.0.2.53"] }\n';
const config = (yaml: string, file = join(dir, 'aifence.yaml')) => configFromText(UPSTREAM + yaml, file);

describe('the default policy', () => {
  it('applies without groups: service:deepseek and tag:cn blocked for everyone, the rest forwarded', async () => {
    const c = config('blocking: { answer: nxdomain }\n');
    expect(c.groups).toMatchObject([{ name: 'default', block: [{ select: 'service:deepseek' }, { select: 'tag:cn' }], allow: [] }]);
    const filter = await buildFilter(c);
    expect((await checkName(filter, 'chat.deepseek.com')).verdict).toBe('blocked');
    expect((await checkName(filter, 'www.kimi.com', '10.1.2.3')).verdict).toBe('blocked'); // a cn vendor
    expect((await checkName(filter, 'example.org')).verdict).toBe('allowed');
    expect((await checkName(filter, 'chatgpt.com')).verdict).toBe('allowed'); // a us vendor: not in the default policy
  });

  it('is stated for the start-up log, with a note that it is the built-in one', () => {
    expect(policySummary(config('')).text).toBe('default: blocks service:deepseek, tag:cn (built-in: the config has no groups)');
    expect(policySummary(config('')).blocksNothing).toBe(false);
  });

  it('gives way to groups the admin wrote, and an empty default is reported as blocking nothing', () => {
    const written = policySummary(config('groups:\n  default: { block: [tag:genai], allow: [service:copilot] }\n  lab: { clients: [10.9.0.0/16] }\n'));
    expect(written.text).toBe('default: blocks tag:genai; allows service:copilot | lab: blocks nothing');
    expect(written.blocksNothing).toBe(false);
    expect(policySummary(config('groups:\n  default: {}\n')).blocksNothing).toBe(true);
    expect(policySummary(config('groups:\n  default: { block: [] }\n  lab: { clients: [10.9.0.0/16] }\n')).blocksNothing).toBe(true);
  });

  it('counts a list that no group selects as blocking for everyone (and an allow list as not blocking)', () => {
    writeFileSync(join(dir, 'ads.txt'), 'ads.example\n');
    const lists = config('lists:\n  ads: { source: ads.txt }\ngroups:\n  default: {}\n');
    expect(policySummary(lists)).toEqual({ text: 'default: blocks nothing | everyone: blocks list:ads (lists no group selects)', blocksNothing: false });
    expect(policySummary(config('lists:\n  ok: { source: ads.txt, allow: true }\ngroups:\n  default: {}\n')).blocksNothing).toBe(true);
  });
});

describe('prefixes with host bits set', () => {
  it.each([
    ['access:\n  clients: [10.0.0.0/8, 10.20.1.5/16]\n', /access\.clients\[1\]: "10\.20\.1\.5\/16" has host bits set; write "10\.20\.0\.0\/16" for the whole network, or "10\.20\.1\.5" for this one address/],
    ['groups:\n  lab: { clients: [192.168.1.1/24] }\n', /groups\.lab\.clients\[0\]: "192\.168\.1\.1\/24" has host bits set; write "192\.168\.1\.0\/24"/],
    ['groups:\n  lab: { clients: ["2001:db8:20::1/48"] }\n', /groups\.lab\.clients\[0\]: "2001:db8:20::1\/48" has host bits set; write "2001:db8:20::\/48" for the whole network, or "2001:db8:20::1"/],
    ['groups:\n  lab: { clients: ["fd00:1:2:3:4:5:6:7/64"] }\n', /write "fd00:1:2:3::\/64"/],
  ])('rejects %j with the network and the host as the two fixes', (yaml, message) => {
    expect(() => config(yaml)).toThrow(message);
  });

  it('accepts networks and single addresses as written', () => {
    const c = config('access:\n  clients: [10.20.0.0/16, 10.20.1.5, "fd00::/8", "::1"]\ngroups:\n  lab: { clients: [10.30.1.0/24, 10.30.0.5/32] }\n');
    expect(c.access.clients.map((x) => x.text)).toEqual(['10.20.0.0/16', '10.20.1.5', 'fd00::/8', '::1']);
    expect(c.groups[1].clients.map((x) => x.text)).toEqual(['10.30.1.0/24', '10.30.0.5/32']);
  });
});

describe('durations without a unit', () => {
  it.each([
    ['upstream: { timeout: 2 }\n', /upstream\.timeout: 2 has no unit; write it with one, e.g\. "2s" for seconds/],
    ['cache: { maxTtl: 3600 }\n', /cache\.maxTtl: 3600 has no unit; write it with one, e.g\. "3600s"/],
    ['blocking: { ttl: "60" }\n', /blocking\.ttl: "60" has no unit/],
    ['cache: { minTtl: 0 }\n', /cache\.minTtl: 0 has no unit; write it with one, e.g\. "0s"/],
    ['lists:\n  ads: { source: "https://example.org/hosts", refresh: 86400 }\n', /lists\.ads\.refresh: 86400 has no unit/],
  ])('rejects %j', (yaml, message) => {
    // `upstream` is written once: the test's own line goes when the case sets it.
    const text = yaml.startsWith('upstream:') ? yaml.replace('{ timeout', '{ servers: ["192.0.2.53"], timeout') : UPSTREAM + yaml;
    expect(() => configFromText(text, join(dir, 'aifence.yaml'))).toThrow(message);
  });

  it('accepts every unit the README lists', () => {
    const c = config('cache: { minTtl: 500ms, maxTtl: 1d }\nblocking: { ttl: 5m }\n');
    expect(c.cache).toMatchObject({ minTtl: 0, maxTtl: 86400 });
    expect(c.blocking.ttl).toBe(300);
  });
});

describe('unknown selectors', () => {
  it('name the file and the key path of the rule', async () => {
    const file = join(dir, 'typo.yaml');
    const c = config('groups:\n  default:\n    block: [service:deepseek, tag:genia]\n', file);
    await expect(buildFilter(c)).rejects.toThrow(`${file}: config error at groups.default.block[1]: unknown selector 'tag:genia'; did you mean 'tag:genai'?`);
  });

  it('point into a rule written as { select, until }', async () => {
    const file = join(dir, 'typo2.yaml');
    const c = config('groups:\n  research:\n    clients: [10.30.0.0/16]\n    block: [tag:genai]\n    allow:\n      - { select: service:opnai, until: 2027-03-31 }\n', file);
    await expect(buildFilter(c)).rejects.toThrow(`${file}: config error at groups.research.allow[0].select: unknown selector 'service:opnai'; did you mean 'service:openai'?`);
  });
});
