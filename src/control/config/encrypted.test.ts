import { describe, expect, it } from 'vitest';
import { parseConfig } from './schema.js';

const parse = (raw: Record<string, unknown>) => parseConfig({ upstream: { servers: ['192.0.2.53'] }, ...raw }, '/etc/aifence', () => []);

describe('encrypted listeners in the config', () => {
  it('has none by default', () => {
    const c = parse({});
    expect([c.listenTls, c.listenHttps, c.listenHttp, c.tls]).toEqual([[], [], [], null]);
    expect(c.doh).toEqual({ trustedProxies: [], maxStreams: 100 });
  });

  it('takes default ports 853, 443 and 80, and tls paths relative to the config', () => {
    const c = parse({ listenTls: ['0.0.0.0'], listenHttps: ['::'], listenHttp: ['127.0.0.1'], tls: { cert: 'cert.pem', key: '/k/key.pem' } });
    expect(c.listenTls[0].port).toBe(853);
    expect(c.listenHttps[0]).toMatchObject({ host: '::', port: 443, family: 6 });
    expect(c.listenHttp[0].port).toBe(80);
    expect(c.tls).toEqual({ cert: '/etc/aifence/cert.pem', key: '/k/key.pem' });
  });

  it('names the key, the value and the fix', () => {
    expect(() => parse({ listenTls: ['0.0.0.0:853'] })).toThrow(/config error at tls: nothing is not set but listenTls needs a certificate; add tls: \{ cert: .*, key: .* \}/);
    expect(() => parse({ listenHttps: ['0.0.0.0'], tls: { cert: 'c.pem' } })).toThrow(/tls\.key: nothing is missing/);
    expect(() => parse({ listenHttps: ['dns.example:443'], tls: { cert: 'c', key: 'k' } })).toThrow(/listenHttps\[0\]: "dns.example:443" is not an IP address/);
    expect(() => parse({ doh: { trustedProxies: ['proxy.lan'] } })).toThrow(/doh\.trustedProxies\[0\]: "proxy.lan" is not an IP prefix/);
    expect(() => parse({ doh: { maxStreams: 0 } })).toThrow(/doh\.maxStreams: 0 is not a whole number from 1 to 1000/);
    expect(() => parse({ tls: { cert: 'c', key: 'k', ca: 'x' } })).toThrow(/tls\.ca.*unknown key/);
  });

  it('lets listenHttp go without a certificate (a reverse proxy terminates TLS)', () => {
    expect(parse({ listenHttp: ['127.0.0.1:8053'], doh: { trustedProxies: ['127.0.0.1'] } }).tls).toBeNull();
  });
});
