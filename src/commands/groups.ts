import { Command } from 'commander';
import { loadConfig } from '../control/config/load.js';
import type { Rule } from '../control/config/schema.js';
import { isActive } from '../control/policy/policy.js';

const describe = (r: Rule, now: number) => ({
  select: r.select,
  until: r.untilText,
  reason: r.reason,
  schedule: r.schedule?.text,
  active: isActive(r, now),
});

export function groupsCommand(): Command {
  return new Command('groups')
    .description("each group's client prefixes, selectors and exceptions, with their expiry and whether they apply now")
    .option('-c, --config <file>', 'config file')
    .option('--json', 'one JSON object a line')
    .action((opts: { config?: string; json?: boolean }) => {
      const now = Date.now();
      for (const g of loadConfig(opts.config).groups) {
        const row = {
          group: g.name,
          clients: g.name === 'default' ? ['(every other allowed client)'] : g.clients.map((c) => c.text),
          block: g.block.map((r) => describe(r, now)),
          allow: g.allow.map((r) => describe(r, now)),
          answer: g.answer ?? null,
        };
        if (opts.json) {
          process.stdout.write(JSON.stringify(row) + '\n');
          continue;
        }
        process.stdout.write(`${row.group}\tclients: ${row.clients.join(', ')}\n`);
        for (const [kind, rules] of [['block', row.block], ['allow', row.allow]] as const) {
          for (const r of rules) {
            const extra = [r.until && `until ${r.until}`, r.schedule && `on ${r.schedule}`, r.reason && `"${r.reason}"`, !r.active && '(not in force now)'].filter(Boolean).join(' ');
            process.stdout.write(`  ${kind} ${r.select}${extra ? ` ${extra}` : ''}\n`);
          }
        }
      }
    });
}
