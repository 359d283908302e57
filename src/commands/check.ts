import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { Rule } from '../config/schema.js';
import { loadConfig } from '../config/load.js';
import type { Explanation } from '../match/types.js';
import { REFUSED } from '../policy/clients.js';
import { PASS } from '../policy/policy.js';
import { type Filter, buildFilter } from '../policy/state.js';

export interface RuleView {
  select: string;
  until?: string;
  reason?: string;
  schedule?: string;
}

export interface CheckResult {
  name: string;
  verdict: 'blocked' | 'allowed' | 'refused';
  group: string | null;
  /** The list that decided (the blocking list, or the one whose allow entry lifted a block). */
  list: string | null;
  line: number | null;
  entry: string | null;
  service: string | null;
  /** The group rule that made the blocking list apply. */
  rule: RuleView | null;
  /** The allow rule (exception) that lifted a block, with its expiry or schedule. */
  exception: RuleView | null;
  /** Present when blocking is paused for the client's group (POST /pause). */
  paused?: true;
}

const view = (r: Rule | undefined): RuleView | null =>
  r === undefined ? null : { select: r.select, until: r.untilText, reason: r.reason, schedule: r.schedule?.text };

/** The verdict for one name and client, decided exactly as the daemon decides it, with what decided. */
export async function checkName(filter: Filter, name: string, client = '127.0.0.1', now = Date.now()): Promise<CheckResult> {
  const { matcher, policy, clients } = filter.state;
  const groupIndex = clients.classify(client);
  if (groupIndex === REFUSED) {
    return { name, verdict: 'refused', group: null, list: null, line: null, entry: null, service: null, rule: null, exception: null };
  }
  const mask = matcher.matchName(name);
  const decision = policy.decide(groupIndex, mask, now);
  const explained = mask > 0 ? await filter.lists.explain(name) : [];
  let decider: Explanation | undefined;
  if (decision.blocker !== PASS) {
    const list = matcher.lists[decision.blocker].name;
    decider = explained.find((e) => e.list === list && !e.allow);
  } else if (decision.allowList !== undefined) {
    decider = explained.find((e) => e.list === matcher.lists[decision.allowList!].name && e.allow);
  }
  const list = decider?.list ?? null;
  return {
    name,
    verdict: decision.blocker === PASS ? 'allowed' : 'blocked',
    group: policy.groups[groupIndex].name,
    list,
    line: decider?.line ?? null,
    entry: decider?.entry ?? null,
    service: list?.startsWith('service:') ? list.slice('service:'.length) : null,
    rule: view(decision.blockRule),
    exception: view(decision.allowRule),
    ...(decision.paused ? { paused: true as const } : {}),
  };
}

export function checkCommand(): Command {
  return new Command('check')
    .description('show the verdict for names, and the group, rule and list entry that decided it')
    .argument('[names...]', 'names to check')
    .option('-c, --config <file>', 'config file')
    .option('-f, --file <file>', 'read names one a line from this file')
    .option('--client <ip>', 'decide as for this client address (its group)', '127.0.0.1')
    .option('--json', 'one JSON object a line')
    .action(async (names: string[], opts: { config?: string; file?: string; client: string; json?: boolean }) => {
      const all = [...names];
      if (opts.file) all.push(...readFileSync(opts.file, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
      if (all.length === 0) throw new Error('name at least one name to check, or --file FILE');
      const filter = await buildFilter(loadConfig(opts.config));
      for (const name of all) {
        const r = await checkName(filter, name, opts.client);
        if (opts.json) {
          process.stdout.write(JSON.stringify(r) + '\n');
          continue;
        }
        const why = r.list ? `  ${r.list}${r.line ? ` line ${r.line}` : ''}: ${r.entry}` : '';
        const exception = r.exception ? `  (exception ${r.exception.select}${r.exception.until ? ` until ${r.exception.until}` : ''}${r.exception.reason ? `: ${r.exception.reason}` : ''})` : '';
        process.stdout.write(`${r.name}\t${r.verdict}\t${r.group ?? '-'}${why}${exception}\n`);
      }
    });
}
