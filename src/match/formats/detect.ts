// Guessing a list's format from its first meaningful lines, by majority:
// each line votes for the format whose syntax it has.
import type { ListFormat } from '../types.js';
import { isAddress } from './hosts.js';

const SAMPLE_LINES = 200;

export function detectFormat(text: string): ListFormat {
  const votes = new Map<ListFormat, number>();
  let seen = 0;
  for (let start = 0; start < text.length && seen < SAMPLE_LINES; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const vote = classify(text.slice(start, end).trim());
    start = end + 1;
    if (vote === undefined) continue;
    seen++;
    // Format headers are decisive on their own.
    if (vote === 'adblock-header' || vote === 'rpz-header') return vote === 'adblock-header' ? 'adblock' : 'rpz';
    votes.set(vote, (votes.get(vote) ?? 0) + 1);
  }
  let best: ListFormat = 'domains';
  let bestVotes = 0;
  for (const [format, n] of votes) {
    if (n > bestVotes) [best, bestVotes] = [format, n];
  }
  return best;
}

function classify(line: string): ListFormat | 'adblock-header' | 'rpz-header' | undefined {
  if (line === '' || line[0] === '#' || line[0] === ';') return undefined;
  if (/^\[adblock/i.test(line)) return 'adblock-header';
  if (line[0] === '!') return undefined;
  if (/^\$(TTL|ORIGIN)\b/i.test(line) || /\sSOA\s/i.test(line)) return 'rpz-header';
  if (line.startsWith('||') || line.startsWith('@@')) return 'adblock';
  if (/^(address|local|server)=\//.test(line)) return 'dnsmasq';
  const tokens = line.split(/\s+/);
  if (tokens.length >= 2 && isAddress(tokens[0])) return 'hosts';
  if (/\sCNAME\s/i.test(line)) return 'rpz';
  if (line.startsWith('*.')) return 'wildcard';
  return 'domains';
}
