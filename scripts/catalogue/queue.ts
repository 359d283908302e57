// From candidates to the review queue: names the catalogue already covers,
// names on the shared-infrastructure list and names a reviewer has already
// rejected drop out; what is left is grouped by host with every source
// that carries it, for a reviewer to decide.

import { existsSync, readFileSync } from 'node:fs';
import type { Catalogue } from '../../src/control/catalogue/load.js';
import { coveringService } from '../../src/control/catalogue/review.js';
import type { Candidate } from './extract.js';

/** Why a candidate was not taken. Each rejected row carries one. */
export const REJECT_REASONS = {
  'not-ai': 'not an AI service: a paper, repository, article, social profile, general software or company page',
  'ai-feature': 'a general product whose AI is one feature: blocking it breaks the product',
  shared: 'shared infrastructure: a portal, cloud, telco, marketplace, hosting platform or parent company',
  builder: "a chatbot or agent builder whose widgets run on its customers' sites, or an automation platform",
  'user-app': 'one app or demo on a shared host, not a service with a fixed name',
  'not-generative': 'AI, but not generative: analytics, detection, search over documents, classic ML tooling',
  framework: 'a framework, library or self-hosted software: its site serves docs and downloads, no hosted AI',
  content: 'a site that publishes AI-made content (galleries, wallpapers, stories), not a tool that makes it',
  adult: 'sexual image generators, "undress" and deepfake tools, erotic role-play sites sold on it: left to adult-content lists',
  // A vendor whose country alone is unknown is no longer rejected: it is catalogued with country zz.
  unverified: "what the site offers, or who runs the name, could not be confirmed; or a look-alike of another vendor's brand",
  defunct: 'closed, lapsed or redirected to another service: a lapsed domain can be bought by anyone',
  duplicate: 'another name of a service the catalogue lists under a different name, not confirmed as its own',
} as const;
export type RejectReason = keyof typeof REJECT_REASONS;

/** Reasons that still say "this is generative AI": `aifence report --discover` weighs them as evidence. */
export const AI_REASONS: ReadonlySet<RejectReason> = new Set(['unverified', 'builder', 'adult', 'user-app']);

export interface Rejected {
  host: string;
  reason: RejectReason;
  why: string;
  product: string;
  line: number;
}

export const REJECTED_HEADER = ['host', 'reason', 'why', 'product'];

/** blocklists/review/rejected.tsv: a row rejects the host and every name below it. */
export function readRejected(path: string): Rejected[] {
  const out: Rejected[] = [];
  const problems: string[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      if (raw.trim() === '' || raw.startsWith('#') || raw.startsWith('host\t')) return;
      const [host, reason, why, product] = raw.split('\t');
      if (!(reason in REJECT_REASONS)) {
        problems.push(`${path}:${i + 1}: reason '${reason}' is not one of ${Object.keys(REJECT_REASONS).join(', ')}`);
        return;
      }
      out.push({ host, reason: reason as RejectReason, why: why ?? '', product: product ?? '', line: i + 1 });
    });
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return out;
}

/** The names shared-infrastructure.txt keeps open: the pipeline never queues them. */
export function readSharedInfrastructure(path: string): Set<string> {
  return new Set(
    readFileSync(path, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('[')),
  );
}

export interface QueueRow {
  host: string;
  products: string[];
  sources: string[];
  contexts: string[];
}

export interface QueueResult {
  queue: QueueRow[];
  read: number;
  hosts: number;
  covered: number;
  shared: number;
  rejected: number;
}

/** The rejected row that covers `host` (itself or a parent), if any. */
export function rejectionOf(byHost: Map<string, Rejected>, host: string): Rejected | undefined {
  for (let name = host; ; ) {
    const r = byHost.get(name);
    if (r) return r;
    const dot = name.indexOf('.');
    if (dot < 0) return undefined;
    name = name.slice(dot + 1);
  }
}

const take = (set: Set<string>, max: number) => [...set].slice(0, max);

export function buildQueue(candidates: Candidate[], cat: Catalogue, shared: Set<string>, rejected: Rejected[]): QueueResult {
  const byHost = new Map<string, { products: Set<string>; sources: Set<string>; contexts: Set<string> }>();
  for (const c of candidates) {
    const row = byHost.get(c.host) ?? { products: new Set(), sources: new Set(), contexts: new Set() };
    if (c.product) row.products.add(c.product);
    row.sources.add(c.source);
    if (c.context) row.contexts.add(c.context);
    byHost.set(c.host, row);
  }
  const rejects = new Map(rejected.map((r) => [r.host, r]));
  const result: QueueResult = { queue: [], read: candidates.length, hosts: byHost.size, covered: 0, shared: 0, rejected: 0 };
  for (const [host, row] of byHost) {
    if (coveringService(cat, host)) result.covered++;
    else if (shared.has(host)) result.shared++;
    else if (rejectionOf(rejects, host)) result.rejected++;
    else result.queue.push({ host, products: take(row.products, 3), sources: [...row.sources].sort(), contexts: take(row.contexts, 2) });
  }
  // A site's hosts side by side: sort by the name read right to left.
  const key = (h: string) => h.split('.').reverse().join('.');
  result.queue.sort((a, b) => key(a.host).localeCompare(key(b.host)));
  return result;
}

export const QUEUE_HEADER = ['host', 'products', 'sources', 'context'];

/**
 * The queue rows that came from `aifence report --discover` (source
 * `discover`), as candidates: a discovered name has no public list to be read
 * from again, so it stays in the queue until a reviewer decides it.
 */
export function discoveredInQueue(path: string): Candidate[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('host\t'))
    .map((l) => l.split('\t'))
    .filter(([, , sources]) => (sources ?? '').split(' ').includes('discover'))
    .map(([host, products, , context]) => ({ host, product: (products ?? '').split(' | ')[0] || host, source: 'discover', context: context ?? '' }));
}

const clean = (s: string) => s.replace(/[\t\n\r]/g, ' ');

export function renderQueue(rows: QueueRow[]): string {
  const head =
    '# Review queue: names the public sources carry that neither the catalogue covers nor\n' +
    '# rejected.tsv rejects (npm run catalogue:candidates -- --write). Review each: add it to\n' +
    '# blocklists/ai/, or add a row to rejected.tsv with the reason.\n';
  return head + [QUEUE_HEADER, ...rows.map((r) => [r.host, r.products.join(' | '), r.sources.join(' '), r.contexts.join(' | ')].map(clean))].map((c) => c.join('\t')).join('\n') + '\n';
}
