import { describe, expect, it } from 'vitest';
import { parseConfig } from './schema.js';

const parse = (raw: unknown, nameservers: string[] = ['192.0.2.53']) => parseConfig(raw, '/etc/aifence', () => nameservers);

describe('parseConfig', () => {
  it('fills every default: loopback listener, resolv.conf upstreams, nxdomain, private-range access', () => {
    const c = parse({});
    expect(c.listen).toEqual([{ host: '127.0.0.1', port: 5300, family: 4 }]);
    expect(c.upstream).toEqual({ servers: [{ host: '192.0.2.53', port: 53, family: 4 }], timeout: 2, maxConcurrent: 4096, tls: { ca: null, caFile: null, pins: [] }, zones: [] });
    expect(c.enforce).toEqual([]);
    expect(c.cache).toEqual({ maxEntries: 100000, maxSize: 64 * 1024 ** 2, minTtl: 0, maxTtl: 86400, serveStale: { maxStale: 86400, clientTimeout: 1.8 } });
    expect(c.maxUdpSize).toBe(1232);
    expect(c.blocking).toEqual({ answer: { kind: 'nxdomain' }, ttl: 60 });
    expect(c.access.clients.map((x) => x.text)).toContain('192.168.0.0/16');
  });

  it('reads the documented keys', () => {
    const c = parse({
      listen: ['0.0.0.0:53', '[::]:53'],
      upstream: { servers: ['9.9.9.9', '127.0.0.1:5399'], timeout: '500ms' },
      cache: { maxEntries: 10, maxSize: '1MB', minTtl: '30s', maxTtl: '1h', serveStale: { maxStale: '2d', clientTimeout: '500ms' } },
      maxUdpSize: 4096,
      blocking: { answer: { ipv4: '10.0.0.80' }, ttl: '5m' },
      lists: { ads: { source: 'lists/ads.txt', format: 'hosts', exact: true } },
      groups: { default: { block: ['service:deepseek'], allow: ['list:ads'] } },
    });
    expect(c.listen[1]).toEqual({ host: '::', port: 53, family: 6 });
    expect(c.upstream.servers[1].port).toBe(5399);
    expect(c.upstream.timeout).toBe(0.5);
    expect(c.cache).toEqual({ maxEntries: 10, maxSize: 1024 ** 2, minTtl: 30, maxTtl: 3600, serveStale: { maxStale: 172800, clientTimeout: 0.5 } });
    expect(c.maxUdpSize).toBe(4096);
    expect(parse({ cache: { serveStale: false } }).cache.serveStale).toBeNull();
    expect(c.blocking).toEqual({ answer: { kind: 'sinkhole', ipv4: '10.0.0.80', ipv6: undefined }, ttl: 300 });
    expect(c.lists[0]).toEqual({ name: 'ads', source: '/etc/aifence/lists/ads.txt', format: 'hosts', exact: true, allow: false });
    expect(c.groups).toEqual([{ name: 'default', clients: [], devices: [], block: [{ select: 'service:deepseek' }], allow: [{ select: 'list:ads' }], answer: undefined }]);
  });

  it('keeps URL lists in dataDir with their refresh interval and size limit', () => {
    const c = parse({ dataDir: '/var/lib/aifence', lists: { ads: { source: 'https://example.org/hosts.txt', refresh: '6h', maxSize: '10MB' } } });
    expect(c.lists[0].source).toBe('/var/lib/aifence/lists/ads.txt');
    expect(c.remoteLists).toEqual([{ name: 'ads', url: 'https://example.org/hosts.txt', file: '/var/lib/aifence/lists/ads.txt', refresh: 21600, maxBytes: 10 * 1024 * 1024 }]);
  });

  it('takes a bare YAML null as the null block mode', () => {
    expect(parse({ blocking: { answer: null } }).blocking.answer).toEqual({ kind: 'null' });
  });

  it.each([
    [{ cache: { maxEntrys: 5 } }, /cache\.maxEntrys.*unknown key; did you mean 'maxEntries'\?/],
    [{ listn: [] }, /listn.*did you mean 'listen'/],
    [{ upstream: { timeout: '2 seconds' } }, /upstream\.timeout: "2 seconds" is not a duration.*e\.g\. 500ms, 2s/],
    [{ upstream: { servers: ['dns.google'] } }, /upstream\.servers\[0\]: "dns\.google" is not an IP address/],
    [{ upstream: { servers: [] } }, /upstream\.servers: \[\] is empty/],
    [{ listen: ['127.0.0.1:99999'] }, /listen\[0\]: "127\.0\.0\.1:99999"/],
    [{ blocking: { answer: 'drop' } }, /blocking\.answer: "drop" is not one of nxdomain \| null \| refused \| page \| \{ipv4, ipv6\}/],
    [{ blocking: { answer: { ipv4: '10.0.0.300' } } }, /blocking\.answer\.ipv4: "10\.0\.0\.300" is not an IPv4 address/],
    [{ access: { clients: ['10.0.0.0/33'] } }, /access\.clients\[0\]: "10\.0\.0\.0\/33" is not an IP prefix/],
    [{ cache: { minTtl: '2h', maxTtl: '1h' } }, /cache\.minTtl: "2h" is above cache\.maxTtl/],
    [{ cache: { maxSize: '4GB' } }, /cache\.maxSize: "4GB" is over 1GB, the largest answer cache; write e\.g\. 256MB or 1GB/],
    [{ lists: { ads: { source: 'a.txt', format: 'hostz' } } }, /lists\.ads\.format: "hostz" is not one of auto \| hosts/],
    [{ lists: { ads: {} } }, /lists\.ads\.source: nothing is not a non-empty string/],
    [{ groups: { default: { block: 'tag:cn' } } }, /groups\.default\.block: "tag:cn" is not a list/],
    [{ lists: { ads: { source: 'ads.txt', refresh: '1h' } } }, /lists\.ads\.refresh: "1h" applies only to lists whose source is an http\(s\) URL/],
    [{ lists: { ads: { source: 'https://exa mple.org/x' } } }, /lists\.ads\.source: "https:\/\/exa mple\.org\/x" is not a valid URL/],
    [{ lists: { ads: { source: 'https://example.org/x', maxSize: 'huge' } } }, /lists\.ads\.maxSize: "huge" is not a size/],
    [{ admin: { listen: '0.0.0.0:8053' } }, /admin\.listen: "0\.0\.0\.0:8053" listens beyond loopback without a token/],
  ])('rejects %j naming key, value and what would be right', (raw, message) => {
    expect(() => parse(raw)).toThrow(message);
  });

  it('refuses to start without upstreams, and never forwards to its own listen address', () => {
    expect(() => parse({}, [])).toThrow(/upstream\.servers: nothing is not set and \/etc\/resolv\.conf names no usable nameserver/);
    expect(() => parse({ listen: ['127.0.0.1:53'] }, ['127.0.0.1'])).toThrow(/no usable nameserver/);
    expect(parse({ listen: ['127.0.0.1:53'] }, ['127.0.0.1', '10.0.0.1']).upstream.servers).toEqual([{ host: '10.0.0.1', port: 53, family: 4 }]);
  });
});
