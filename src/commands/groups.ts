import { Command } from 'commander';
import { loadConfig } from '../control/config/load.js';
import type { Rule } from '../control/config/schema.js';
import { isActive } from '../control/policy/policy.js';
import { buildFilter } from '../control/policy/filter.js';
import { describeConflict, policyConflicts } from '../control/policy/conflicts.js';
import { visible } from '../text/visible.js';

const describe = (r: Rule, now: number) => ({
  select: r.select,
  until: r.untilText,
  reason: r.reason,
  schedule: r.schedule?.text,
  active: isActive(r, now),
});

export function groupsCommand(): Command {
  return new Command('groups')
    .description("each group's client prefixes, selectors and exceptions, with their expiry and whether they apply now, and the allow rules that conflict with other blocks")
    .option('-c, --config <file>', 'config file')
    .option('--json', 'one JSON object a line')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const now = Date.now();
      const config = loadConfig(opts.config);
      // The conflicts come from the compiled selections, as the daemon warns of them at start.
      const conflicts = new Map(policyConflicts((await buildFilter(config, undefined, now)).policy).map((g) => [g.group, g.conflicts]));
      if (config.enforce.length > 0) {
        if (opts.json) process.stdout.write(JSON.stringify({ enforce: config.enforce }) + '\n');
        else process.stdout.write(`enforced for every group (no allow, exception or pause re-opens them): ${config.enforce.join(', ')}\n`);
      }
      for (const g of config.groups) {
        const row = {
          group: g.name,
          clients: g.name === 'default' ? ['(every other allowed client)'] : g.clients.map((c) => c.text),
          devices: g.devices,
          block: g.block.map((r) => describe(r, now)),
          allow: g.allow.map((r) => describe(r, now)),
          answer: g.answer ?? null,
          conflicts: conflicts.get(g.name) ?? [],
        };
        if (opts.json) {
          process.stdout.write(JSON.stringify(row) + '\n');
          continue;
        }
        const members = [row.clients.length > 0 ? `clients: ${row.clients.join(', ')}` : '', row.devices.length > 0 ? `devices: ${row.devices.join(', ')}` : ''].filter(Boolean);
        process.stdout.write(`${row.group}\t${members.join('\t')}\n`);
        for (const [kind, rules] of [['block', row.block], ['allow', row.allow]] as const) {
          for (const r of rules) {
            const extra = [r.until && `until ${r.until}`, r.schedule && `on ${r.schedule}`, r.reason && `"${r.reason}"`, !r.active && '(not in force now)'].filter(Boolean).join(' ');
            process.stdout.write(`  ${kind} ${r.select}${visible(extra ? ` ${extra}` : '')}\n`);
          }
        }
        for (const c of row.conflicts) process.stdout.write(`  conflict: ${describeConflict(c)}\n`);
      }
    });
}
