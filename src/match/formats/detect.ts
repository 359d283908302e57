// Guessing a list's format from its first meaningful lines, by majority:
// each line votes for the format whose syntax it has.
import type { ListFormat } from '../types.js';
import { isAddress } from './hosts.js';

const SAMPLE_LINES = 200;

export function detectFormat(text: string): ListFormat {
  const detector = new FormatDetector();
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (detector.line(text.slice(start, end)) !== null) break;
    start = end + 1;
  }
  return detector.format();
}

/** The same vote, one line at a time, for a list read in chunks: decided by a header, or after 200 meaningful lines, or at the end. */
export class FormatDetector {
  private readonly votes = new Map<ListFormat, number>();
  private seen = 0;
  private decided: ListFormat | null = null;

  /** Counts one line; returns the format once it is decided, else null. */
  line(text: string): ListFormat | null {
    if (this.decided !== null) return this.decided;
    const vote = classify(text.trim());
    if (vote === undefined) return null;
    this.seen++;
    // Format headers are decisive on their own.
    if (vote === 'adblock-header' || vote === 'rpz-header') return (this.decided = vote === 'adblock-header' ? 'adblock' : 'rpz');
    this.votes.set(vote, (this.votes.get(vote) ?? 0) + 1);
    if (this.seen >= SAMPLE_LINES) this.decided = this.majority();
    return this.decided;
  }

  /** The format decided, or the majority of the lines seen (domains when none). */
  format(): ListFormat {
    return this.decided ?? this.majority();
  }

  private majority(): ListFormat {
    let best: ListFormat = 'domains';
    let bestVotes = 0;
    for (const [format, n] of this.votes) {
      if (n > bestVotes) [best, bestVotes] = [format, n];
    }
    return best;
  }
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
