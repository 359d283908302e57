// The policy in force, in one sentence for the start-up log: an admin who
// forgot `groups`, or wrote an empty one, learns it from the first lines the
// daemon prints, not from a user who reached DeepSeek.

import type { Rule } from './groups.js';
import type { Config } from './schema.js';

export interface PolicySummary {
  /** e.g. "default: blocks service:deepseek, tag:cn (built-in: the config has no groups)". */
  text: string;
  /** No group blocks anything and no list blocks for everyone. */
  blocksNothing: boolean;
}

const rules = (rs: Rule[]) => rs.map((r) => r.select + (r.untilText ? ` until ${r.untilText}` : '') + (r.schedule ? ` on ${r.schedule.text}` : '')).join(', ');

export function policySummary(config: Config): PolicySummary {
  const selected = new Set(config.groups.flatMap((g) => [...g.block, ...g.allow]).map((r) => r.select));
  // A list no group selects applies to every group (README: lists).
  const everyone = config.lists.filter((l) => !selected.has(`list:${l.name}`));
  const blockingEveryone = everyone.filter((l) => !l.allow).map((l) => `list:${l.name}`);
  const parts = config.groups.map((g) => {
    const does = [g.block.length > 0 ? `blocks ${rules(g.block)}` : 'blocks nothing', g.allow.length > 0 ? `allows ${rules(g.allow)}` : ''].filter(Boolean).join('; ');
    return `${g.name}: ${does}${g.builtIn ? ' (built-in: the config has no groups)' : ''}`;
  });
  if (blockingEveryone.length > 0) parts.push(`everyone: blocks ${blockingEveryone.join(', ')} (lists no group selects)`);
  if (config.enforce.length > 0) parts.unshift(`enforced for every group: ${config.enforce.join(', ')}`);
  const blocksNothing = config.groups.every((g) => g.block.length === 0) && blockingEveryone.length === 0 && config.enforce.length === 0;
  return { text: parts.join(' | '), blocksNothing };
}

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export function logPolicy(config: Config, log: Log): void {
  const { text, blocksNothing } = policySummary(config);
  log.info({ policy: text }, `policy in force: ${text}`);
  if (blocksNothing) {
    log.warn(
      { policy: text, file: config.file },
      'THIS CONFIGURATION BLOCKS NOTHING: every name is forwarded. Add rules to groups.default.block, e.g. [service:deepseek, tag:cn], or remove `groups` for that default policy',
    );
  }
}
