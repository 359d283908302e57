// Adblock-style lists as DNS blockers publish them: `||name^` blocks,
// `@@||name^` excepts. Anything that needs a URL, a path, a wildcard inside
// the name or `$` options cannot be decided from a DNS name, so it is
// skipped (counted, with a sample) rather than misread as a domain.
import type { LineParser } from './types.js';

export function createAdblockParser(): LineParser {
  return (raw, sink) => {
    const line = raw.trimStart();
    const c = line.charCodeAt(0);
    // The shape of nearly every line: ||name^
    if (c === 124 && line.charCodeAt(1) === 124 && line.charCodeAt(line.length - 1) === 94) {
      const name = line.slice(2, -1);
      if (isPlainName(name)) return sink.entry(name, false, false);
    }
    if (c === 33 /* ! */ || (c === 91 /* [ */ && /^\[adblock/i.test(line))) return sink.ignore();
    if (line.includes('#') && /#[@?$]?#/.test(line)) return sink.skip('cosmetic (element hiding) rule');
    if (c === 35 /* # */) return sink.ignore(); // `# comment`, as some DNS lists write
    const allow = line.startsWith('@@');
    let rule = allow ? line.slice(2) : line;
    if (rule.includes('$')) return sink.skip('rule with $ options');
    const wildcard = rule.startsWith('||*.');
    if (wildcard) rule = '||' + rule.slice(4);
    if (rule.endsWith('^|')) rule = rule.slice(0, -1);
    if (rule.startsWith('||') && rule.endsWith('^')) {
      const name = rule.slice(2, -1);
      if (isPlainName(name)) return sink.entry(name, wildcard, allow);
    }
    sink.skip(whyNotDomain(rule));
  };
}

function whyNotDomain(rule: string): string {
  if (!rule.startsWith('||')) return 'not a ||domain^ rule (URL or substring pattern)';
  if (rule.includes('/')) return 'rule with a path';
  if (rule.slice(2).includes('*')) return 'wildcard inside the name';
  return 'not a plain ||domain^ rule';
}

/** No pattern syntax inside: / ^ * | $ # */
function isPlainName(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 47 || c === 94 || c === 42 || c === 124 || c === 36 || c === 35) return false;
  }
  return name.length > 0;
}
