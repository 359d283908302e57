// RPZ zone files (RFC-draft "DNS Response Policy Zones"). Triggers are the
// owner names relative to the zone apex: `bad.com CNAME .` in zone
// `rpz.example` triggers on bad.com. Supported actions: CNAME `.` (NXDOMAIN),
// `*.` (NODATA), `rpz-drop.`, any local data (A/AAAA/CNAME elsewhere) as
// blocks, and `rpz-passthru.` as an allow entry. SOA (possibly spread over
// lines in parentheses), NS, $TTL are ignored.
import type { LineParser, LineSink } from './types.js';

const CLASSES = new Set(['in', 'ch', 'hs', 'cs']);
const LOCAL_DATA = new Set(['a', 'aaaa', 'cname', 'txt', 'mx', 'srv', 'ptr']);
const IP_TRIGGERS = /(^|\.)rpz-(ip|nsip|nsdname|client-ip)$/;

export function createRpzParser(): LineParser {
  let origin = ''; // current $ORIGIN, without trailing dot
  let apex = ''; // the zone's apex: the first $ORIGIN
  let parens = 0; // open parentheses of a multi-line record (SOA)

  return (line, sink) => {
    // The shape of nearly every line: `owner CNAME .`
    if (parens === 0 && line.endsWith(' CNAME .')) {
      const sp = line.indexOf(' ');
      const c = line.charCodeAt(0);
      if (sp === line.length - 8 && c !== 36 && c !== 59 && c !== 64 && !line.includes(';')) return blockTrigger(sink, line.slice(0, sp), false);
    }
    const body = stripSemicolonComment(line);
    if (parens > 0) {
      parens += count(body, '(') - count(body, ')');
      return sink.ignore();
    }
    if (body.length === 0) return sink.ignore();
    const tokens = body.split(/\s+/);
    if (tokens[0].startsWith('$')) {
      const directive = tokens[0].toUpperCase();
      if (directive === '$ORIGIN' && tokens.length >= 2) {
        origin = absolute(tokens[1]);
        if (apex === '') apex = origin;
        return sink.ignore();
      }
      if (directive === '$TTL') return sink.ignore();
      return sink.skip(`${tokens[0]} not supported`);
    }
    parens = count(body, '(') - count(body, ')');
    // A line starting with blanks continues the previous owner (` NS localhost.`).
    let i = /^\s/.test(line) ? 0 : 1;
    const owner = i === 1 ? tokens[0] : '';
    if (i === 0 && tokens[0] === '') tokens.shift();
    while (i < tokens.length && (/^\d+[smhdw]?$/i.test(tokens[i]) || CLASSES.has(tokens[i].toLowerCase()))) i++;
    if (i >= tokens.length) return sink.reject('record without a type');
    const type = tokens[i].toLowerCase();
    const rdata = tokens[i + 1] ?? '';
    if (type === 'soa' || type === 'ns') return sink.ignore();
    if (owner === '' || owner === '@') return sink.reject(`${type.toUpperCase()} record at the zone apex`);
    if (!LOCAL_DATA.has(type)) return sink.skip(`record type ${type.toUpperCase()} is not a policy action`);
    blockTrigger(sink, owner, type === 'cname' && rdata.toLowerCase() === 'rpz-passthru.');
  };

  function blockTrigger(sink: LineSink, owner: string, allow: boolean): void {
    const trigger = triggerName(owner);
    if (trigger.includes('rpz-') && IP_TRIGGERS.test(trigger)) return sink.skip('IP/NS trigger, not a query name');
    const wildcard = trigger.startsWith('*.');
    sink.entry(wildcard ? trigger.slice(2) : trigger, wildcard, allow);
  }

  function absolute(name: string): string {
    if (name.endsWith('.')) return name.slice(0, -1);
    return origin === '' ? name : `${name}.${origin}`;
  }

  /** The query name an owner triggers on: relative to the apex. */
  function triggerName(owner: string): string {
    const abs = absolute(owner);
    if (apex === '') return abs;
    const lower = abs.toLowerCase();
    if (lower === apex.toLowerCase()) return '';
    return lower.endsWith('.' + apex.toLowerCase()) ? abs.slice(0, abs.length - apex.length - 1) : abs;
  }
}

/** The line without a `;` comment, trimmed at the end. */
function stripSemicolonComment(line: string): string {
  const semi = line.indexOf(';');
  return (semi < 0 ? line : line.slice(0, semi)).trimEnd();
}

function count(s: string, ch: string): number {
  let n = 0;
  for (let i = s.indexOf(ch); i >= 0; i = s.indexOf(ch, i + 1)) n++;
  return n;
}
