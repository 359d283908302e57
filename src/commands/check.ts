import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { PASS } from '../policy/policy.js';
import { type Filter, buildFilter } from '../policy/state.js';
import type { Explanation } from '../match/types.js';

export interface CheckResult {
  name: string;
  verdict: 'blocked' | 'allowed';
  group: string;
  /** The list that decided (the blocking list, or the one whose allow entry lifted a block). */
  list: string | null;
  line: number | null;
  entry: string | null;
  service: string | null;
}

/** The verdict for one name, decided exactly as the daemon decides it, with the entry that decided. */
export async function checkName(filter: Filter, name: string): Promise<CheckResult> {
  const { matcher, policy } = filter.state;
  const mask = matcher.matchName(name);
  const blocker = mask > 0 ? policy.verdicts[mask] : PASS;
  const explained = mask > 0 ? await filter.lists.explain(name) : [];
  let decider: Explanation | undefined;
  if (blocker !== PASS) {
    const list = matcher.lists[blocker].name;
    decider = explained.find((e) => e.list === list && !e.allow);
  } else {
    decider = explained.find((e) => e.allow);
  }
  const list = decider?.list ?? null;
  return {
    name,
    verdict: blocker === PASS ? 'allowed' : 'blocked',
    group: policy.name,
    list,
    line: decider?.line ?? null,
    entry: decider?.entry ?? null,
    service: list?.startsWith('service:') ? list.slice('service:'.length) : null,
  };
}

export function checkCommand(): Command {
  return new Command('check')
    .description('show the verdict for names, and the list entry that decided it')
    .argument('[names...]', 'names to check')
    .option('-c, --config <file>', 'config file')
    .option('-f, --file <file>', 'read names one a line from this file')
    .option('--client <ip>', 'decide as for this client (groups arrive with policy groups)')
    .option('--json', 'one JSON object a line')
    .action(async (names: string[], opts: { config?: string; file?: string; json?: boolean }) => {
      const all = [...names];
      if (opts.file) all.push(...readFileSync(opts.file, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
      if (all.length === 0) throw new Error('name at least one name to check, or --file FILE');
      const filter = await buildFilter(loadConfig(opts.config));
      for (const name of all) {
        const r = await checkName(filter, name);
        if (opts.json) process.stdout.write(JSON.stringify(r) + '\n');
        else {
          const why = r.list ? `  ${r.list}${r.line ? ` line ${r.line}` : ''}: ${r.entry}` : '';
          process.stdout.write(`${r.name}\t${r.verdict}${why}\n`);
        }
      }
    });
}
