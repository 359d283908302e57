// Conflict warnings from the compiled selections, with the real catalogue:
// an allow that re-opens names another group blocks, one that overlaps a
// country block, one that covers enforced names; counted in names of the
// compiled lists, three examples each; `aifence groups` shows the same.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromText } from '../../src/control/config/load.js';
import { describeConflict, policyConflicts } from '../../src/control/policy/conflicts.js';
import { buildFilter } from '../../src/control/policy/filter.js';

const CONFIG = `
upstream: { servers: ["127.0.0.1:5399"] }
enforce: [service:deepseek]
lists: { partners: { source: partners.txt } }
groups:
  default:
    block: [tag:cn, list:partners]
  research:
    clients: [10.30.0.0/16]
    block: [tag:genai, tag:cn]
    allow: [tag:model-hub, tag:chat]
  quiet:
    clients: [10.40.0.0/16]
    block: [tag:image]
`;

const dir = mkdtempSync(join(tmpdir(), 'aifence-conflicts-'));
writeFileSync(join(dir, 'partners.txt'), 'huggingface.co\nintranet.example\n');
writeFileSync(join(dir, 'aifence.yaml'), CONFIG);

describe('policy conflicts', () => {
  it('names, per group, each allow that re-opens other groups\' blocks, overlaps a country block or covers enforced names', async () => {
    const filter = await buildFilter(configFromText(CONFIG, join(dir, 'aifence.yaml')));
    const all = policyConflicts(filter.policy);
    expect(all.map((g) => g.group)).toEqual(['research']);
    const byKind = (allow: string, kind: string) => all[0].conflicts.find((c) => c.allow === allow && c.kind === kind);
    // tag:model-hub re-opens Chinese model hubs (tag:cn) and huggingface.co, which the default's own list blocks.
    const hubs = byKind('tag:model-hub', 'other-groups')!;
    expect(hubs.against).toEqual(expect.arrayContaining(['default: tag:cn', 'default: list:partners']));
    expect(hubs.examples).toHaveLength(3);
    expect(hubs.names).toBeGreaterThanOrEqual(3);
    // ...and its own group's country block: the README's research carve-out, as it used to read.
    const country = byKind('tag:model-hub', 'country')!;
    expect(country.against).toEqual(['tag:cn']);
    expect(country.names).toBeGreaterThan(0);
    expect(describeConflict(country)).toMatch(/^allow tag:model-hub re-opens \d+ names of this group's country block \(tag:cn\), e\.g\. /);
    // tag:chat covers chat.deepseek.com, which stays blocked: no group's allow re-opens an enforced name.
    const enforced = byKind('tag:chat', 'enforced')!;
    expect(enforced.against).toEqual(['service:deepseek']);
    expect(enforced.examples.every((n) => n.includes('deepseek'))).toBe(true);
    expect(describeConflict(enforced)).toMatch(/^allow tag:chat covers \d+ names? enforced for everyone \(enforce: service:deepseek\), which stays? blocked, e\.g\. /);
    expect(describeConflict(hubs)).toMatch(/^allow tag:model-hub re-opens \d+ names that other groups block \(.*default: tag:cn.*\), e\.g\. \S+, \S+, \S+$/);
    // An allow that meets only its own group's block is what allow is for: no warning.
    expect(all[0].conflicts.some((c) => c.against.some((a) => a.startsWith('research:') && c.kind === 'other-groups'))).toBe(false);
  });

  it('are shown by aifence groups', () => {
    const out = execFileSync(process.execPath, [resolve('dist/cli.js'), 'groups', '--config', join(dir, 'aifence.yaml')], { encoding: 'utf8' });
    expect(out).toMatch(/^enforced for every group \(no allow, exception or pause re-opens them\): service:deepseek$/m);
    expect(out).toMatch(/^research\tclients: 10\.30\.0\.0\/16\n(  .*\n)*  conflict: allow tag:model-hub re-opens \d+ names that other groups block/m);
    const json = execFileSync(process.execPath, [resolve('dist/cli.js'), 'groups', '--config', join(dir, 'aifence.yaml'), '--json'], { encoding: 'utf8' }).trim().split('\n').map((l) => JSON.parse(l));
    expect(json[0]).toEqual({ enforce: ['service:deepseek'] });
    expect(json.find((r) => r.group === 'quiet').conflicts).toEqual([]);
    expect(json.find((r) => r.group === 'research').conflicts.map((c: { kind: string }) => c.kind)).toEqual(expect.arrayContaining(['other-groups', 'country', 'enforced']));
  });
});
