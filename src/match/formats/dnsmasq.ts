// dnsmasq directives that blocklists use: `address=/name/[target]`,
// `local=/name/`, `server=/name/` (no upstream). dnsmasq allows several
// names in one directive: `address=/a/b/0.0.0.0`. As in dnsmasq, `#` starts
// a comment only at the start of a line: `address=/name/#` is a target.
import type { LineParser } from './types.js';

const DIRECTIVE = /^(address|local|server)=\/(.*)$/;

export function createDnsmasqParser(): LineParser {
  return (line, sink) => {
    // The shape of nearly every line: address=/name/target, local=/name/, server=/name/
    const prefix = line.startsWith('address=/') ? 9 : line.startsWith('local=/') ? 7 : line.startsWith('server=/') ? 8 : 0;
    if (prefix > 0) {
      const slash = line.indexOf('/', prefix);
      if (slash > prefix && line.indexOf('/', slash + 1) < 0 && (prefix !== 8 || slash === line.length - 1)) {
        const name = line.slice(prefix, slash);
        if (name !== '#' && !name.startsWith('*.')) return sink.entry(name, false, false);
      }
    }
    const body = line.trim();
    if (body.startsWith('#')) return sink.ignore();
    const m = DIRECTIVE.exec(body);
    if (!m) {
      return /^[a-z-]+(=|$)/.test(body)
        ? sink.skip('dnsmasq directive that blocks no name')
        : sink.reject('not a dnsmasq directive');
    }
    const parts = m[2].split('/');
    if (parts.length < 2) return sink.reject('directive without a closing /');
    const target = parts[parts.length - 1];
    // server=/name/1.2.3.4 forwards the name elsewhere: not a block.
    if (m[1] === 'server' && target !== '') return sink.skip('server=/name/ADDRESS forwards, it does not block');
    for (let i = 0; i < parts.length - 1; i++) {
      const name = parts[i];
      if (name === '#') sink.skip('/#/ matches every name');
      else if (name.startsWith('*.')) sink.entry(name.slice(2), true, false);
      else sink.entry(name, false, false);
    }
  };
}
