import { describe, expect, it } from 'vitest';
import { parseConfig } from './schema.js';

const parse = (identity: unknown) => parseConfig({ identity }, '/etc/aifence', () => ['192.0.2.53']).identity;

describe('identity', () => {
  it('is empty without the section', () => {
    expect(parseConfig({}, '/etc/aifence', () => ['192.0.2.53']).identity).toEqual({ leases: [], hosts: [], reverse: null });
  });

  it('reads lease files (paths beside the config), static names by canonical address, and the PTR server', () => {
    expect(
      parse({
        leases: [{ path: '/var/lib/misc/dnsmasq.leases', format: 'dnsmasq' }, { path: 'kea-leases4.csv', format: 'kea' }, { path: '/var/lib/dhcp/dhcpd.leases', format: 'isc' }],
        hosts: { '10.0.0.5': 'printer-2f', '2001:DB8:0::5': ' nas ' },
        reverse: '10.0.0.1',
      }),
    ).toEqual({
      leases: [
        { path: '/var/lib/misc/dnsmasq.leases', format: 'dnsmasq' },
        { path: '/etc/aifence/kea-leases4.csv', format: 'kea' },
        { path: '/var/lib/dhcp/dhcpd.leases', format: 'isc' },
      ],
      hosts: [
        { address: '10.0.0.5', name: 'printer-2f' },
        { address: '2001:db8::5', name: 'nas' },
      ],
      reverse: { host: '10.0.0.1', port: 53, family: 4 },
    });
    expect(parse({ reverse: '[::1]:5353' }).reverse).toEqual({ host: '::1', port: 5353, family: 6 });
  });

  it.each([
    [{ leases: [{ path: '/x' }] }, /identity\.leases\[0\]\.format: nothing is missing; say which server writes the file: dnsmasq \| kea \| isc/],
    [{ leases: [{ path: '/x', format: 'dhcpcd' }] }, /identity\.leases\[0\]\.format: "dhcpcd" is not one of dnsmasq \| kea \| isc/],
    [{ leases: [{ format: 'kea' }] }, /identity\.leases\[0\]\.path: nothing is missing; name the lease file/],
    [{ leases: [{ path: '/x', format: 'kea', watch: true }] }, /identity\.leases\[0\]\.watch: true is under an unknown key/],
    [{ leases: [{ path: '/x', format: 'kea' }, { path: '/x', format: 'kea' }] }, /identity\.leases\[1\]\.path: "\/x" is listed twice/],
    [{ leases: '/var/lib/misc/dnsmasq.leases' }, /identity\.leases: "\/var\/lib\/misc\/dnsmasq\.leases" is not a list/],
    [{ hosts: { printer: '10.0.0.5' } }, /identity\.hosts\.printer: "printer" is not an IP address; write the address as the key/],
    [{ hosts: { '10.0.0.5': 5 } }, /identity\.hosts\.10\.0\.0\.5: 5 is not a name/],
    [{ hosts: ['10.0.0.5'] }, /identity\.hosts: \["10\.0\.0\.5"\] is not a mapping of addresses to names/],
    [{ reverse: 'dns.corp.example' }, /identity\.reverse: "dns\.corp\.example" is not a DNS server address/],
    [{ reverses: '10.0.0.1' }, /identity\.reverses: "10\.0\.0\.1" is under an unknown key; did you mean 'reverse'\?/],
  ])('rejects %j naming key, value and fix', (identity, message) => {
    expect(() => parse(identity)).toThrow(message);
  });
});
