// Shadow-AI discovery (`aifence report --discover`): names clients asked
// for that look like AI services but that no catalogue entry covers, so a
// security office sees what its ban misses. Evidence, each with a weight:
// the public candidate lists shipped in blocklists/candidates.tsv (3), a
// vendor or model name in a label (3), strong product words such as gpt,
// llm, genai (2), the .ai TLD (2), weak ones such as chat, copilot,
// assistant or an "ai" label part (1). A name is listed from weight 2.

import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { csv, table } from '../../text/visible.js';
import { textLabels } from '../../wire/presentation.js';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Catalogue } from '../catalogue/index.js';
import { TABLE } from './sinks/postgres.js';

export const CANDIDATES_FILE = fileURLToPath(new URL('../../../blocklists/candidates.tsv', import.meta.url));

const VENDORS = [
  'openai', 'chatgpt', 'anthropic', 'claude', 'deepseek', 'mistral', 'gemini', 'bard', 'llama', 'qwen', 'tongyi', 'kimi', 'moonshot',
  'zhipu', 'chatglm', 'baichuan', 'minimax', 'hailuo', 'doubao', 'ernie', 'yiyan', 'perplexity', 'cohere', 'huggingface', 'midjourney',
  'elevenlabs', 'runwayml', 'characterai', 'grok', 'copilot', 'writesonic', 'anysphere', 'codeium', 'tabnine', 'suno', 'udio', 'ideogram',
  'phind', 'sora', 'nanobanana',
];
/** Short vendor names count only as a whole label part (sora.example, not sorano.example). */
const vendorIn = (v: string, labels: string[], words: string[]) => (v.length >= 6 ? labels.some((l) => l.includes(v)) : words.includes(v));
const STRONG = ['gpt', 'llm', 'genai', 'openai'];
const WEAK = ['ai', 'chat', 'chatbot', 'assistant', 'agent', 'agents', 'bot', 'copilot', 'prompt', 'neural', 'ml'];

export interface Discovery {
  name: string;
  score: number;
  why: string[];
  queries: number;
  clients: number;
  first: string;
  last: string;
}

export interface DiscoveryOptions {
  since?: number;
  /** Candidate names (domain -> service); default: the packaged candidates.tsv. */
  candidates?: Map<string, string>;
}

export function loadCandidates(file = CANDIDATES_FILE): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [domain, service] = line.split('\t');
    map.set(domain, service ?? '?');
  }
  return map;
}

/** What makes `name` (presentation form) look like an AI service, and how strongly; weight 0 when nothing does. */
export function evidence(name: string, candidates: Map<string, string>): { score: number; why: string[] } {
  const why: string[] = [];
  let score = 0;
  // Split where the name has label boundaries: `chat\.deepseek\.com` is one label, not deepseek.com.
  const labels = textLabels(name);
  for (let i = 0; i < labels.length - 1; i++) {
    const suffix = labels.slice(i).join('.');
    const service = candidates.get(suffix);
    if (service !== undefined) {
      score += 3;
      why.push(`public AI lists: ${suffix} (${service})`);
      break;
    }
  }
  const words = labels.slice(0, -1).flatMap((l) => l.split(/[-_]/));
  const vendor = VENDORS.find((v) => vendorIn(v, labels.slice(0, -1), words));
  if (vendor) {
    score += 3;
    why.push(`vendor or model name "${vendor}"`);
  }
  const strong = STRONG.find((w) => w !== vendor && labels.slice(0, -1).some((l) => l.includes(w)));
  if (strong) {
    score += 2;
    why.push(`product word "${strong}"`);
  }
  if (labels.at(-1) === 'ai') {
    score += 2;
    why.push('AI-typical TLD .ai');
  }
  const weak = WEAK.find((w) => w !== vendor && words.includes(w));
  if (weak) {
    score += 1;
    why.push(`word "${weak}"`);
  }
  return { score, why };
}

/** The catalogue's names as a set, to test a name and its parents in a few lookups. */
function covered(catalogue: Catalogue): (name: string) => boolean {
  const suffixes = new Set<string>();
  const exact = new Set<string>();
  for (const s of catalogue.services) for (const d of s.domains) (d.exact ? exact : suffixes).add(d.name);
  return (name) => {
    if (exact.has(name)) return true;
    const labels = textLabels(name);
    for (let i = 0; i < labels.length; i++) if (suffixes.has(labels.slice(i).join('.'))) return true;
    return false;
  };
}

interface Seen {
  queries: number;
  clients: Set<string>;
  first: number;
  last: number;
}

function rank(seen: Map<string, { queries: number; clients: number; first: number; last: number }>, catalogue: Catalogue, candidates: Map<string, string>): Discovery[] {
  const isCovered = covered(catalogue);
  const out: Discovery[] = [];
  for (const [name, s] of seen) {
    if (isCovered(name)) continue;
    const e = evidence(name, candidates);
    if (e.score < 2) continue;
    out.push({ name, score: e.score, why: e.why, queries: s.queries, clients: s.clients, first: new Date(s.first).toISOString(), last: new Date(s.last).toISOString() });
  }
  return out.sort((a, b) => b.clients - a.clients || b.score - a.score || b.queries - a.queries || a.name.localeCompare(b.name));
}

/** From query-log files (needs queryLog.mode: all: allowed queries are what the ban missed). */
export async function discoverFromFiles(files: string[], catalogue: Catalogue, options: DiscoveryOptions = {}): Promise<{ rows: Discovery[]; allowedSeen: number }> {
  const seen = new Map<string, Seen>();
  const since = options.since ?? -Infinity;
  let allowedSeen = 0;
  for (const file of files) {
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
      if (!line.includes('"name"')) continue;
      let e: { time?: string; client?: string; name?: string; verdict?: string };
      try {
        e = JSON.parse(line);
      } catch {
        continue;
      }
      if (typeof e.name !== 'string' || typeof e.client !== 'string' || e.verdict !== 'allowed') continue;
      const t = Date.parse(e.time ?? '');
      if (!(t >= since)) continue;
      allowedSeen++;
      const name = e.name;
      let s = seen.get(name);
      if (!s) seen.set(name, (s = { queries: 0, clients: new Set(), first: t, last: t }));
      s.queries++;
      // Bounded: beyond a few thousand clients the count is what matters, not who.
      if (s.clients.size < 100_000) s.clients.add(e.client);
      if (t < s.first) s.first = t;
      if (t > s.last) s.last = t;
    }
  }
  const flat = new Map([...seen].map(([n, s]) => [n, { queries: s.queries, clients: s.clients.size, first: s.first, last: s.last }]));
  return { rows: rank(flat, catalogue, options.candidates ?? loadCandidates()), allowedSeen };
}

/** From the PostgreSQL sink: one aggregation per name, over every instance. */
export async function discoverFromDb(url: string, catalogue: Catalogue, options: DiscoveryOptions = {}): Promise<{ rows: Discovery[]; allowedSeen: number }> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: 'aifence report --discover' });
  await client.connect();
  try {
    const params: unknown[] = [];
    let since = '';
    if (options.since !== undefined) {
      params.push(new Date(options.since).toISOString());
      since = 'AND time >= $1';
    }
    const r = await client.query<{ name: string; queries: string; clients: string; first: Date; last: Date }>(
      `SELECT name, count(*)::bigint AS queries, count(DISTINCT client)::bigint AS clients, min(time) AS first, max(time) AS last
       FROM ${TABLE} WHERE verdict = 'allowed' AND name IS NOT NULL ${since} GROUP BY 1`,
      params,
    );
    const seen = new Map(r.rows.map((row) => [row.name, { queries: Number(row.queries), clients: Number(row.clients), first: row.first.getTime(), last: row.last.getTime() }]));
    const allowedSeen = r.rows.reduce((n, row) => n + Number(row.queries), 0);
    return { rows: rank(seen, catalogue, options.candidates ?? loadCandidates()), allowedSeen };
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function formatDiscovery(rows: Discovery[], format: 'table' | 'csv' | 'json'): string {
  if (format === 'json') return JSON.stringify({ rows }) + '\n';
  const header = ['name', 'clients', 'queries', 'score', 'first', 'last', 'why'];
  const cells = rows.map((r) => [r.name, String(r.clients), String(r.queries), String(r.score), r.first, r.last, r.why.join('; ')]);
  if (format === 'csv') return csv([header, ...cells]);
  return table([header, ...cells], new Set([1, 2, 3]));
}
