import { describe, expect, it } from 'vitest';
import { parseConfig } from './schema.js';

const parse = (upstream: Record<string, unknown>) => parseConfig({ upstream }, '/etc/aifence', () => []).upstream;

describe('upstream.servers with DoT and DoH', () => {
  it('reads plain, tls:// and https:// servers side by side, with default ports and paths', () => {
    const { servers } = parse({ servers: ['192.168.1.1', 'tls://9.9.9.9#dns.quad9.net', 'https://1.1.1.1/dns-query#cloudflare-dns.com', 'tls://[2620:fe::fe]:8853', 'https://8.8.8.8:8443/resolve'] });
    expect(servers[0]).toEqual({ host: '192.168.1.1', port: 53, family: 4 });
    expect(servers[1]).toMatchObject({ host: '9.9.9.9', port: 853, encrypted: { protocol: 'dot', name: 'dns.quad9.net' } });
    expect(servers[2]).toMatchObject({ host: '1.1.1.1', port: 443, encrypted: { protocol: 'doh', name: 'cloudflare-dns.com', path: '/dns-query' } });
    expect(servers[3]).toMatchObject({ host: '2620:fe::fe', port: 8853, family: 6, encrypted: { protocol: 'dot', name: undefined } });
    expect(servers[4]).toMatchObject({ port: 8443, encrypted: { protocol: 'doh', path: '/resolve' } });
  });

  it('names the key, the value and the fix', () => {
    expect(() => parse({ servers: ['tls://dns.quad9.net'] })).toThrow(/upstream\.servers\[0\]: "tls:\/\/dns\.quad9\.net" does not name the server by IP address; write e\.g\. tls:\/\/9\.9\.9\.9:853#dns\.quad9\.net/);
    expect(() => parse({ servers: ['tls://9.9.9.9#not a name'] })).toThrow(/is not a DNS name/);
    expect(() => parse({ servers: ['tls://9.9.9.9/dns-query'] })).toThrow(/has a path, which DNS over TLS does not use/);
    expect(() => parse({ servers: ['https://1.1.1.1/dns-query{?dns}'] })).toThrow(/has a path aifence cannot use/);
    expect(() => parse({ servers: ['quic://1.1.1.1'] })).toThrow(/encrypted servers start tls:\/\/ or https:\/\//);
    expect(() => parse({ servers: ['9.9.9.9'], tls: { ca: '/nonexistent.pem' } })).toThrow(/upstream\.tls\.ca: "\/nonexistent\.pem" cannot be read as PEM certificates \(ENOENT\)/);
    expect(() => parse({ servers: ['9.9.9.9'], tls: { pins: ['abc'] } })).toThrow(/upstream\.tls\.pins\[0\]: "abc" is not a base64 SHA-256/);
  });

  it('accepts pins with or without the sha256/ prefix', () => {
    const pin = Buffer.alloc(32, 1).toString('base64');
    expect(parse({ servers: ['9.9.9.9'], tls: { pins: [pin, `sha256/${pin}`] } }).tls.pins).toEqual([pin, pin]);
  });
});
