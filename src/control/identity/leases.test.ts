// Lease files as the servers wrote them (the dnsmasq, Kea 2.2 and ISC dhcpd
// 4.4 texts below are what those servers wrote in test/identity's network
// namespaces, addresses and times kept): every lease in force read with its
// host name, start and end; what is not in force (expired, released, free,
// declined, a delegated prefix) left out; the last word of a journal wins;
// unreadable entries counted, never fatal; names in presentation form.

import { describe, expect, it } from 'vitest';
import { parseLeases } from './leases.js';

const NOW = Date.UTC(2026, 11, 7, 4, 0, 0);
const at = (iso: string) => Date.parse(iso);

describe('dnsmasq.leases', () => {
  const file = [
    '1796618553 52:54:00:00:00:03 10.77.0.107 * 01:52:54:00:00:00:03',
    '1796618550 52:54:00:00:00:02 10.77.0.106 * 01:52:54:00:00:00:02',
    '1796618547 52:54:00:00:00:01 10.77.0.105 alice-laptop 01:52:54:00:00:00:01',
    '0 52:54:00:00:00:04 10.77.0.108 printer *',
    '1700000000 52:54:00:00:00:05 10.77.0.109 long-gone *',
    'duid 00:01:00:01:2c:5b:1a:2b:52:54:00:00:00:01',
    '1796618547 1234567 2001:DB8::5 alice-laptop 00:01:00:01:2c:5b:1a:2b:52:54:00:00:00:01',
    'not a lease',
    '',
  ].join('\n');

  it('reads each lease: expiry (0: never), address (canonical), host name (* for none); the duid line and expired leases left out', () => {
    const r = parseLeases('dnsmasq', Buffer.from(file), NOW);
    expect(r.leases).toEqual([
      { address: '10.77.0.107', name: '', start: -Infinity, end: 1796618553_000 },
      { address: '10.77.0.106', name: '', start: -Infinity, end: 1796618550_000 },
      { address: '10.77.0.105', name: 'alice-laptop', start: -Infinity, end: 1796618547_000 },
      { address: '10.77.0.108', name: 'printer', start: -Infinity, end: Infinity },
      { address: '2001:db8::5', name: 'alice-laptop', start: -Infinity, end: 1796618547_000 },
    ]);
    expect(r).toMatchObject({ bad: 1, firstBad: 8 });
  });
});

describe('Kea memfile CSV', () => {
  it('lease4: columns by the header, the last row of an address wins, states other than default left out, commas escaped as &#x2c', () => {
    const file = [
      'address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context',
      '10.77.0.100,52:54:00:00:00:02,01:52:54:00:00:00:02,3600,1796618558,1,0,0,bobx,0,',
      '10.77.0.101,52:54:00:00:00:03,01:52:54:00:00:00:03,3600,1796618558,1,0,0,,0,',
      '10.77.0.102,52:54:00:00:00:01,01:52:54:00:00:00:01,3600,1796618558,1,0,0,alice-laptop,0,',
      '10.77.0.100,52:54:00:00:00:02,01:52:54:00:00:00:02,3600,1796618600,1,0,0,bob-desk,0,',
      '10.77.0.103,52:54:00:00:00:04,,3600,1796618558,1,0,0,declined,1,',
      '10.77.0.104,52:54:00:00:00:05,,3600,1796618558,1,0,0,reclaimed,2,',
      '10.77.0.105,52:54:00:00:00:06,,3600,1796618558,1,0,0,a&#x2cb,0,{ "comment": "x&#x2cy" }',
      '10.77.0.106,52:54:00:00:00:07,,0,1796618558,1,0,0,deleted,0,',
      '10.77.0.107,52:54:00:00:00:08,,4294967295,4294967295,1,0,0,forever,0,',
      '10.77.0.108,52:54:00:00:00:09,,3600,1700000000,1,0,0,expired,0,',
      '10.77.0.102,52:54:00:00:00:01,01:52:54:00:00:00:01,oops,1796618558,1,0,0,alice-laptop,0,',
      '',
    ].join('\n');
    const r = parseLeases('kea', Buffer.from(file), NOW);
    expect(r.leases).toEqual([
      { address: '10.77.0.100', name: 'bob-desk', start: (1796618600 - 3600) * 1000, end: 1796618600_000 },
      { address: '10.77.0.101', name: '', start: (1796618558 - 3600) * 1000, end: 1796618558_000 },
      { address: '10.77.0.102', name: 'alice-laptop', start: (1796618558 - 3600) * 1000, end: 1796618558_000 },
      { address: '10.77.0.105', name: 'a,b', start: (1796618558 - 3600) * 1000, end: 1796618558_000 },
      { address: '10.77.0.107', name: 'forever', start: -Infinity, end: Infinity },
    ]);
    expect(r).toMatchObject({ bad: 1, firstBad: 12 });
  });

  it('lease6: the DHCPv6 header (Kea 2.2), addresses in force; a delegated prefix (lease_type 2) is no client', () => {
    const file = [
      'address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source',
      '2001:db8:1::10,00:03:00:01:52:54:00:00:00:01,3600,1796618558,1,1800,0,1,128,0,0,alice-laptop.corp.example.,52:54:00:00:00:01,0,,1,2',
      '2001:db8:2::,00:03:00:01:52:54:00:00:00:02,3600,1796618558,1,1800,2,2,56,0,0,,,0,,1,2',
      '',
    ].join('\n');
    expect(parseLeases('kea', Buffer.from(file), NOW).leases).toEqual([
      { address: '2001:db8:1::10', name: 'alice-laptop.corp.example', start: (1796618558 - 3600) * 1000, end: 1796618558_000 },
    ]);
  });

  it('a row before any header, or after a header that names no address column, is unreadable', () => {
    const r = parseLeases('kea', Buffer.from('10.0.0.1,x,,3600,1796618558,1,0,0,a,0,\n'), NOW);
    expect(r).toMatchObject({ leases: [], bad: 1, firstBad: 1 });
  });
});

describe('ISC dhcpd.leases', () => {
  const block = (address: string, lines: string[]) => [`lease ${address} {`, ...lines.map((l) => `  ${l}`), '}'].join('\n');
  const file = [
    '# The format of this file is documented in the dhcpd.leases(5) manual page.',
    '# This lease file was written by isc-dhcp-4.4.3-P1',
    '',
    '# authoring-byte-order entry is generated, DO NOT DELETE',
    'authoring-byte-order little-endian;',
    '',
    'server-duid "\\000\\001\\000\\0012\\250\\347\\257:x\\330=l\\301";',
    '',
    block('10.77.0.100', ['starts 1 2026/12/07 03:42:41;', 'ends 1 2026/12/07 04:42:41;', 'cltt 1 2026/12/07 03:42:41;', 'binding state active;', 'next binding state free;', 'rewind binding state free;', 'hardware ethernet 52:54:00:00:00:01;', 'uid "\\001RT\\000\\000\\000\\001";', 'client-hostname "alice-laptop";']),
    block('10.77.0.101', ['starts 1 2026/12/07 03:42:42;', 'ends 1 2026/12/07 04:42:42;', 'binding state active;', 'hardware ethernet 52:54:00:00:00:02;', 'uid "\\001RT\\000\\000\\000\\002";']),
    // Released later in the journal: the last block decides.
    block('10.77.0.101', ['starts 1 2026/12/07 03:42:42;', 'ends 1 2026/12/07 03:50:00;', 'binding state free;', 'hardware ethernet 52:54:00:00:00:02;']),
    // Epoch times (db-time-format local), a lease that never ends, a string holding `;`, `}` and an octal escape, nested blocks and a comment.
    block('10.77.0.102', ['starts epoch 1796614000; # Mon Dec 07 02:46:40 2026', 'ends never;', 'binding state active;', 'client-hostname "x;}\\"\\\\\\033y";', 'on expiry { set x = "}"; }', 'set vendor-class-identifier = "MSFT 5.0";']),
    block('10.77.0.103', ['starts 1 2026/12/07 03:00:00;', 'ends 1 2026/12/07 03:30:00;', 'binding state active;', 'client-hostname "expired";']),
    block('10.77.0.104', ['starts 1 2026/13/07 03:00:00;', 'ends never;', 'binding state active;']),
    'host fixed { hardware ethernet 52:54:00:00:00:09; fixed-address 10.77.0.9; }',
    'failover peer "pair" state { my state normal at 1 2026/12/07 03:00:00; }',
    'lease 10.77.0.105 {',
    '  starts 1 2026/12/07 03:42:41;',
    '  binding state active;',
    '  client-hostname "cut-off',
  ].join('\n');

  it('reads lease blocks (starts, ends, binding state, client-hostname), the last block of an address wins, other statements skipped', () => {
    const r = parseLeases('isc', Buffer.from(file), NOW);
    expect(r.leases).toEqual([
      { address: '10.77.0.100', name: 'alice-laptop', start: at('2026-12-07T03:42:41Z'), end: at('2026-12-07T04:42:41Z') },
      { address: '10.77.0.102', name: 'x\\;}\\"\\\\\\027y', start: 1796614000_000, end: Infinity },
    ]);
    // The impossible month, and the block the file ends in (a write in progress).
    expect(r.bad).toBe(2);
  });
});

describe('host names from lease files are hostile bytes', () => {
  it('every byte value reads as printable ASCII (\\DDD, \\. and the specials escaped, dots kept as label breaks), cut at 253 bytes', () => {
    const blocks: string[] = [];
    for (let b = 0; b < 256; b++) {
      const octal = `\\${b.toString(8).padStart(3, '0')}`;
      blocks.push(`lease 10.1.${b >> 4}.${b & 15} {\n  starts 1 2026/12/07 03:00:00;\n  ends never;\n  binding state active;\n  client-hostname "a${octal}b";\n}`);
    }
    blocks.push(`lease 10.2.0.1 {\n  starts 1 2026/12/07 03:00:00;\n  ends never;\n  client-hostname "${'x'.repeat(300)}";\n}`);
    const { leases } = parseLeases('isc', Buffer.from(blocks.join('\n'), 'latin1'), NOW);
    expect(leases).toHaveLength(257);
    const names = new Set<string>();
    for (const l of leases.slice(0, 256)) {
      expect(l.name, l.address).toMatch(/^a[\x21-\x7e]+b$/);
      names.add(l.name);
    }
    expect(names.size).toBe(256 - 26); // no two bytes share a text, but ASCII case (RFC 4343: A-Z read as a-z)
    const byByte = (b: number) => leases[b].name;
    expect([byByte(0), byByte(0x20), byByte(0x2e), byByte(0x5c), byByte(0x41), byByte(0xff), byByte(0x22)]).toEqual(['a\\000b', 'a\\032b', 'a.b', 'a\\\\b', 'aab', 'a\\255b', 'a\\"b']);
    expect(leases[256].name).toBe('x'.repeat(253));
  });
});
