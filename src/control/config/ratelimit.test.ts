import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseCidr } from '../../net/address.js';
import { DEFAULT_CONFIG_PATH } from './load.js';
import { DEFAULT_EXEMPT, rateLimitSection } from './ratelimit.js';

describe('rateLimit config', () => {
  it('is on by default, sized for a NAT gateway, with loopback exempt', () => {
    expect(rateLimitSection(undefined)).toEqual({ qps: 200, burst: 1000, action: 'slip', slip: 2, exempt: DEFAULT_EXEMPT.map(parseCidr) });
  });

  it('is what config/aifence.yaml documents', () => {
    const documented = parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')).rateLimit;
    expect(documented).toBeDefined();
    expect(rateLimitSection(documented)).toEqual(rateLimitSection(undefined));
  });

  it('turns off with off, false or qps 0', () => {
    for (const value of ['off', false, { qps: 0 }, { qps: 0, burst: 5 }]) expect(rateLimitSection(value).qps).toBe(0);
  });

  it('takes qps, burst, action, slip and exempt; burst defaults to 5 s of qps', () => {
    expect(rateLimitSection({ qps: 50, action: 'refused', exempt: ['10.0.0.53', 'fd00::/8'] })).toMatchObject({ qps: 50, burst: 250, action: 'refused', exempt: [{ text: '10.0.0.53' }, { text: 'fd00::/8' }] });
    expect(rateLimitSection({ qps: 20, burst: 40, action: 'slip', slip: 1 })).toMatchObject({ burst: 40, slip: 1 });
  });

  it('names the key, the value and the fix', () => {
    expect(() => rateLimitSection('on')).toThrow(/config error at rateLimit: "on" is not off or a mapping/);
    expect(() => rateLimitSection({ qsp: 5 })).toThrow(/rateLimit.qsp.*did you mean 'qps'/);
    expect(() => rateLimitSection({ qps: -1 })).toThrow(/rateLimit.qps: -1 is not a whole number from 0/);
    expect(() => rateLimitSection({ qps: 10, burst: 0 })).toThrow(/rateLimit.burst: 0 is not a whole number from 1/);
    expect(() => rateLimitSection({ action: 'block' })).toThrow(/rateLimit.action: "block" is not one of drop \| refused \| slip/);
    expect(() => rateLimitSection({ action: 'drop', slip: 2 })).toThrow(/rateLimit.slip: 2 only applies with action: slip/);
    expect(() => rateLimitSection({ exempt: ['10.0.0.0/33'] })).toThrow(/rateLimit.exempt\[0\]: "10.0.0.0\/33" is not an IP prefix/);
    expect(() => rateLimitSection({ exempt: '10.0.0.0/8' })).toThrow(/rateLimit.exempt: "10.0.0.0\/8" is not a list/);
  });
});
