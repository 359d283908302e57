import { describe, expect, it } from 'vitest';
import type { Entry, ListFormat, ListReport } from './types.js';
import { ListParser, parseList } from './parse.js';
import { detectFormat } from './formats/index.js';

interface Parsed {
  entries: Entry[];
  texts: string[];
  report: ListReport;
}

function parse(text: string, format: ListFormat | 'auto', opts: { exact?: boolean; allow?: boolean } = {}): Parsed {
  const entries: Entry[] = [];
  const texts: string[] = [];
  const spec = { name: 't', format, exact: opts.exact ?? false, allow: opts.allow ?? false };
  const report = parseList(text, spec, (name, line, exact, allow, lineText) => {
    entries.push({ name, line, exact, allow });
    texts.push(lineText);
  });
  return { entries, texts, report };
}

const names = (p: Parsed): string[] => p.entries.map((e) => e.name);
const counts = (p: Parsed): number[] => [p.report.entries, p.report.ignored, p.report.skipped, p.report.rejected];

describe('hosts', () => {
  const text = [
    '# Title: some hosts file',
    '127.0.0.1 localhost',
    '127.0.0.1 localhost.localdomain',
    '127.0.0.1 local',
    '255.255.255.255 broadcasthost',
    '::1 localhost',
    '::1 ip6-localhost',
    'fe80::1%lo0 localhost',
    'ff02::2 ip6-allrouters',
    '0.0.0.0 0.0.0.0',
    '',
    '0.0.0.0 ads.example.com',
    '0.0.0.0\tTracker.Example.NET.  # trailing comment',
    '127.0.0.1 a.example b.example c.example',
    ':: v6.example',
    'ads.example.org',
    '0.0.0.0',
    '0.0.0.0 bad!name.example',
  ].join('\r\n');
  const p = parse(text, 'hosts');

  it('reads one or several names per line, any sink address, comments and CRLF', () => {
    expect(names(p)).toEqual(['ads.example.com', 'tracker.example.net', 'a.example', 'b.example', 'c.example', 'v6.example']);
    expect(p.entries.map((e) => e.line)).toEqual([12, 13, 14, 14, 14, 15]);
    expect(p.texts[1]).toBe('0.0.0.0\tTracker.Example.NET.  # trailing comment');
  });

  it('ignores the localhost preamble and comments; rejects lines that are not hosts lines, with reasons', () => {
    // ignored: the comment and the 9 preamble lines
    expect(counts(p)).toEqual([6, 10, 0, 3]);
    expect(p.report.samples).toEqual([
      { line: 16, text: 'ads.example.org', reason: 'hosts line does not start with an IP address' },
      { line: 17, text: '0.0.0.0', reason: 'hosts line has an address but no name' },
      { line: 18, text: '0.0.0.0 bad!name.example', reason: 'invalid character "!"' },
    ]);
  });
  it('recognises the preamble in any case', () => {
    const p = parse('127.0.0.1 LocalHost\n::1 IP6-Localhost\n', 'hosts');
    expect(counts(p)).toEqual([0, 2, 0, 0]);
  });
});

describe('domains and wildcards', () => {
  it('reads names and *.names, with comments, blank lines, trailing dots, case, IDN', () => {
    const p = parse('# list\n\nExample.COM.\n*.wild.example # all of it\nbücher.example\n   spaced.example  \n', 'domains');
    expect(names(p)).toEqual(['example.com', 'wild.example', 'xn--bcher-kva.example', 'spaced.example']);
    expect(counts(p)).toEqual([4, 1, 0, 0]);
  });

  it('`*.name` covers the name and its subdomains, even in an exact list', () => {
    const p = parse('*.wild.example\nexact.example\n', 'wildcard', { exact: true });
    expect(p.entries).toEqual([
      { name: 'wild.example', line: 1, exact: false, allow: false },
      { name: 'exact.example', line: 2, exact: true, allow: false },
    ]);
  });

  it('rejects junk with line number, text and reason, and keeps going', () => {
    const long = `${'a'.repeat(64)}.example`;
    const p = parse(`good.example\ntwo tokens.example\n${long}\nbad_but_ok.example\nsp@m.example\n10.1.2.3\nlast.example`, 'domains');
    expect(names(p)).toEqual(['good.example', 'bad_but_ok.example', 'last.example']);
    expect(p.report.samples).toEqual([
      { line: 2, text: 'two tokens.example', reason: 'more than one token on a domain line' },
      { line: 3, text: long, reason: 'label longer than 63 octets' },
      { line: 5, text: 'sp@m.example', reason: 'invalid character "@"' },
      { line: 6, text: '10.1.2.3', reason: 'an IP address, not a domain name' },
    ]);
    expect(p.report.rejected).toBe(4);
  });

  it('rejects names over 253 octets', () => {
    const p = parse(`${Array(4).fill('a'.repeat(63)).join('.')}\n`, 'domains');
    expect(p.report.samples[0].reason).toBe('name longer than 253 octets');
  });
});

describe('adblock', () => {
  const text = [
    '[Adblock Plus 2.0]',
    '! Title: a list',
    '||ads.example.com^',
    '@@||good.ads.example.com^',
    '||*.wild.example^',
    '||pipe.example^|',
    '||tracker.example^$third-party',
    '@@||cdn.example^$important',
    '||example.org/ads/*',
    '/banner\\d+/',
    '##.ad-box',
    'example.net##.sponsored',
    '|https://example.com/x',
    '||ads*.example.com^',
    '||noseparator.example',
    '||UPPER.Example^',
  ].join('\n');
  const p = parse(text, 'adblock');

  it('reads ||name^ blocks and @@||name^ exceptions', () => {
    expect(p.entries.map((e) => [e.name, e.allow])).toEqual([
      ['ads.example.com', false],
      ['good.ads.example.com', true],
      ['wild.example', false],
      ['pipe.example', false],
      ['upper.example', false],
    ]);
  });

  it('skips rules a DNS name cannot express, never misreading them as a domain', () => {
    expect(counts(p)).toEqual([5, 2, 9, 0]);
    expect(p.report.samples.map((s) => [s.line, s.reason])).toEqual([
      [7, 'rule with $ options'],
      [8, 'rule with $ options'],
      [9, 'rule with a path'],
      [10, 'not a ||domain^ rule (URL or substring pattern)'],
      [11, 'cosmetic (element hiding) rule'],
      [12, 'cosmetic (element hiding) rule'],
      [13, 'not a ||domain^ rule (URL or substring pattern)'],
      [14, 'wildcard inside the name'],
      [15, 'not a plain ||domain^ rule'],
    ]);
  });

  it('a list with allow: true makes every entry an allow entry', () => {
    expect(parse('||a.example^\n', 'adblock', { allow: true }).entries[0].allow).toBe(true);
  });
});

describe('dnsmasq', () => {
  it('reads address=, local= and server= without upstream; skips what does not block', () => {
    const p = parse(
      [
        '# dnsmasq list',
        'address=/ads.example/#',
        'address=/v4.example/0.0.0.0',
        'address=/multi-a.example/multi-b.example/::',
        'local=/local.example/',
        'server=/server.example/',
        'server=/fwd.example/10.0.0.53',
        'address=/#/0.0.0.0',
        'cache-size=1000',
        'address=/*.wild.example/#',
        'nonsense line',
        'address=/broken',
      ].join('\n'),
      'dnsmasq',
    );
    expect(names(p)).toEqual(['ads.example', 'v4.example', 'multi-a.example', 'multi-b.example', 'local.example', 'server.example', 'wild.example']);
    expect(counts(p)).toEqual([7, 1, 3, 2]);
    expect(p.report.samples.map((s) => s.reason)).toEqual([
      'server=/name/ADDRESS forwards, it does not block',
      '/#/ matches every name',
      'dnsmasq directive that blocks no name',
      'not a dnsmasq directive',
      'directive without a closing /',
    ]);
  });
});

describe('rpz', () => {
  it('reads triggers, ignores $TTL, SOA (one or many lines) and NS', () => {
    const p = parse(
      [
        '$TTL 300',
        '@ SOA localhost. root.localhost. 1695120960 43200 3600 259200 300',
        '  NS  localhost.',
        '; comment',
        'cdn.ofo.ac CNAME .',
        '*.cdn.ofo.ac CNAME .',
        'Upper.Example 300 IN CNAME . ; trailing comment',
        'nodata.example CNAME *.',
        'pass.example CNAME rpz-passthru.',
        'walled.example A 10.0.0.1',
        '32.1.0.0.10.rpz-ip CNAME .',
        'mx.example MX 10 mail.example.',
      ].join('\n'),
      'rpz',
    );
    expect(p.entries.map((e) => [e.name, e.allow])).toEqual([
      ['cdn.ofo.ac', false],
      ['cdn.ofo.ac', false],
      ['upper.example', false],
      ['nodata.example', false],
      ['pass.example', true],
      ['walled.example', false],
      ['mx.example', false],
    ]);
    expect(counts(p)).toEqual([7, 4, 1, 0]);
    // MX is local data, so it blocks: only the IP trigger is skipped.
    expect(p.report.samples.map((s) => s.reason)).toEqual(['IP/NS trigger, not a query name']);
  });

  it('handles multi-line SOA in parentheses and $ORIGIN (relative and absolute owners)', () => {
    const p = parse(
      [
        '$ORIGIN rpz.example.org.',
        '@ IN SOA ns.example.org. admin.example.org. (',
        '        2024010101 ; serial',
        '        3600 600 86400 60 )',
        '@ IN NS ns.example.org.',
        'bad.example CNAME .',
        'abs.example.rpz.example.org. CNAME .',
        'outside.example. CNAME .',
        '$ORIGIN sub.rpz.example.org.',
        'rel CNAME .',
      ].join('\n'),
      'rpz',
    );
    expect(names(p)).toEqual(['bad.example', 'abs.example', 'outside.example', 'rel.sub']);
    expect(counts(p)).toEqual([4, 6, 0, 0]);
  });
});

describe('format detection', () => {
  it.each([
    ['# c\n0.0.0.0 a.example\n0.0.0.0 b.example\n', 'hosts'],
    ['# c\na.example\nb.example\n', 'domains'],
    ['*.a.example\n*.b.example\n', 'wildcard'],
    ['[Adblock Plus]\n! c\n', 'adblock'],
    ['! c\n||a.example^\n', 'adblock'],
    ['address=/a.example/#\n', 'dnsmasq'],
    ['local=/a.example/\n', 'dnsmasq'],
    ['$TTL 30\n@ SOA a. b. 1 2 3 4 5\n', 'rpz'],
    ['; c\na.example CNAME .\n', 'rpz'],
    ['', 'domains'],
  ])('%j is %s', (text, format) => {
    expect(detectFormat(text)).toBe(format);
  });

  it('an auto list reports the detected format', () => {
    expect(parse('0.0.0.0 a.example\n', 'auto').report.format).toBe('hosts');
  });
});

describe('parsing as the text is read, in chunks', () => {
  /** The same list pushed in chunks of `size` characters, cut anywhere (inside a line, between CR and LF). */
  function parseChunked(text: string, format: ListFormat | 'auto', size: number): Parsed {
    const entries: Entry[] = [];
    const texts: string[] = [];
    const parser = new ListParser({ name: 't', format, exact: false, allow: false }, (name, line, exact, allow, lineText) => {
      entries.push({ name, line, exact, allow });
      texts.push(lineText);
    });
    for (let at = 0; at < text.length; at += size) parser.push(text.slice(at, at + size));
    return { entries, texts, report: parser.end() };
  }

  // 250 meaningful lines: auto-detection decides after 200, then the lines held meanwhile are parsed.
  const hosts = [
    '\ufeff# hosts with a byte order mark, CRLF lines, a bad line and no final newline',
    ...Array.from({ length: 250 }, (_, i) => `0.0.0.0 host${i}.example\r`),
    '0.0.0.0 bad..name\r',
    '',
    '0.0.0.0 last.example',
  ].join('\n');

  it.each([1, 2, 7, 64, 4096, hosts.length])('chunks of %i characters give what the whole text gives', (size) => {
    const whole = parse(hosts, 'auto');
    const chunked = parseChunked(hosts, 'auto', size);
    expect(chunked.entries).toEqual(whole.entries);
    expect(chunked.texts).toEqual(whole.texts);
    expect(chunked.report).toEqual(whole.report);
    expect(whole.report).toMatchObject({ format: 'hosts', entries: 251, rejected: 1 });
    expect(whole.entries.at(-1)).toEqual({ name: 'last.example', line: 254, exact: false, allow: false });
  });

  it('a format header in a later chunk still decides the whole list', () => {
    const rpz = `; comment\n${'; more\n'.repeat(50)}$TTL 30\nbad.example CNAME .\n`;
    expect(parseChunked(rpz, 'auto', 5).report).toMatchObject({ format: 'rpz', entries: 1 });
  });
});
