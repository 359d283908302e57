import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../net/address.js';
import type { RateLimitConfig } from '../../shared/serving-config.js';
import { Limit, RateLimiter } from './ratelimit.js';

/** A limiter's config as the control plane parses it (src/control/config/ratelimit.ts): the slip default 2; `exempt` as written. */
const config = ({ exempt = [], ...over }: Partial<Omit<RateLimitConfig, 'exempt'>> & { exempt?: string[] } = {}): RateLimitConfig => ({
  qps: 10,
  burst: 5,
  action: 'drop',
  slip: 2,
  exempt: exempt.map((p) => parseCidr(p)!),
  ...over,
});

/** A limiter on a clock the test moves by hand. */
function limiter(over: Parameters<typeof config>[0] = {}, slots?: number) {
  let now = 1000;
  const rl = new RateLimiter(config(over), { slots, clock: () => now });
  return { rl, advance: (ms: number) => (now += ms) };
}

const passes = (rl: RateLimiter, address: string, n: number): number => {
  let passed = 0;
  for (let i = 0; i < n; i++) if (rl.check(address) === Limit.Pass) passed++;
  return passed;
};

describe('RateLimiter', () => {
  it('lets a burst through, then limits, then refills at qps', () => {
    const { rl, advance } = limiter();
    expect(passes(rl, '10.0.0.1', 20)).toBe(5);
    advance(300); // 3 tokens at 10 qps
    expect(passes(rl, '10.0.0.1', 20)).toBe(3);
    advance(10_000); // refills up to the burst, no further
    expect(passes(rl, '10.0.0.1', 20)).toBe(5);
  });

  it('keeps each client its own verdict when queries from several interleave (the last client is remembered, not confused)', () => {
    const { rl } = limiter({ exempt: ['127.0.0.0/8'] });
    const verdicts: Limit[] = [];
    for (let i = 0; i < 20; i++) for (const a of ['127.0.0.1', '10.0.0.1', '10.0.0.1', '127.0.0.1', 'not-an-address']) verdicts.push(rl.check(a));
    const of = (k: number) => verdicts.filter((_, i) => i % 5 === k);
    expect(of(0).every((v) => v === Limit.Pass)).toBe(true); // exempt
    expect(of(3).every((v) => v === Limit.Pass)).toBe(true);
    expect(of(4).every((v) => v === Limit.Pass)).toBe(true); // unreadable: never limited
    expect([...of(1), ...of(2)].filter((v) => v === Limit.Pass).length).toBe(5); // the burst, then drops
    // A reload that drops the exemption applies to the client seen last, too.
    rl.configure(config({ exempt: [] }));
    expect(passes(rl, '127.0.0.1', 20)).toBe(5);
  });

  it('keeps clients apart: one flooding does not limit another', () => {
    const { rl } = limiter();
    expect(passes(rl, '10.0.0.2', 100)).toBe(5);
    expect(passes(rl, '10.0.0.3', 5)).toBe(5);
  });

  it('counts an IPv6 /56 as one client and an IPv4-mapped address as its IPv4 address', () => {
    const { rl } = limiter();
    expect(passes(rl, '2001:db8:0:1200::1', 3)).toBe(3);
    expect(passes(rl, '2001:db8:0:12ff:abcd::9', 10)).toBe(2); // same /56
    expect(passes(rl, '2001:db8:0:1300::1', 10)).toBe(5); // the next /56
    expect(passes(rl, '10.9.9.9', 3)).toBe(3);
    expect(passes(rl, '::ffff:10.9.9.9', 10)).toBe(2);
  });

  it('never limits exempt prefixes, nor anything when off', () => {
    const { rl } = limiter({ exempt: ['10.1.0.0/16', 'fd00::/8'] });
    expect(passes(rl, '10.1.2.3', 1000)).toBe(1000);
    expect(passes(rl, 'fd00::53', 1000)).toBe(1000);
    expect(rl.clients).toBe(0);
    // `rateLimit: off` parses to qps 0 (src/control/config/ratelimit.test.ts).
    const off = new RateLimiter(config({ qps: 0, burst: 0 }));
    expect(passes(off, '10.0.0.1', 1000)).toBe(1000);
    expect(new RateLimiter(config({ qps: 0 })).enabled).toBe(false);
  });

  it('answers every slip-th limited query with TC and drops the rest', () => {
    const { rl } = limiter({ action: 'slip', slip: 3 });
    passes(rl, '10.0.0.4', 5);
    const actions = Array.from({ length: 9 }, () => rl.check('10.0.0.4'));
    expect(actions).toEqual([Limit.Drop, Limit.Drop, Limit.Slip, Limit.Drop, Limit.Drop, Limit.Slip, Limit.Drop, Limit.Drop, Limit.Slip]);
    expect(limiter({ action: 'refused' }).rl.check('10.0.0.5')).toBe(Limit.Pass);
  });

  it('stays bounded under a million forged source addresses, and keeps the flooder limited', () => {
    const { rl, advance } = limiter({}, 1024);
    expect(passes(rl, '10.0.0.66', 100)).toBe(5);
    let flooderPassed = 0;
    for (let i = 0; i < 1_000_000; i++) {
      rl.check(`172.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`);
      if (i % 1000 === 0) {
        advance(1); // the flood arrives over 1 s: the flooder earns 10 tokens
        if (rl.check('10.0.0.66') === Limit.Pass) flooderPassed++;
      }
    }
    // The table is its typed arrays, allocated up front: full, never grown.
    expect(rl.clients).toBe(1024);
    expect(rl.counts.evictions).toBeGreaterThan(900_000);
    // Its bucket was never thrown away for a fresh one (that would give it 5 at once, 1,000 times).
    expect(flooderPassed).toBeLessThanOrEqual(12);
  });

  it('reports limited clients at the first limited query, then at most every 10 s', () => {
    let now = 0;
    const reports: { client: string; queries: number; action: string }[] = [];
    const rl = new RateLimiter(config(), { clock: () => now, onLimited: (r) => reports.push(r) });
    passes(rl, '10.0.0.8', 10); // 5 limited
    expect(reports).toEqual([{ client: '10.0.0.8', queries: 1, action: 'drop' }]);
    now += 9_000;
    passes(rl, '10.0.0.9', 100);
    expect(reports).toHaveLength(1);
    now += 1_000;
    passes(rl, '10.0.0.8', 20);
    expect(reports[1]).toEqual({ client: '10.0.0.8', queries: 4 + 95 + 1, action: 'drop' });
  });

  it('keeps buckets across a reconfigure, capped to the new burst', () => {
    const { rl, advance } = limiter({ burst: 50 });
    expect(passes(rl, '10.0.0.7', 10)).toBe(10);
    rl.configure(config({ burst: 3 }));
    advance(1);
    expect(passes(rl, '10.0.0.7', 10)).toBe(3);
  });

  it('answers REFUSED and TC with the question, and drops what is not a query', async () => {
    const { encodeQuery } = await import('../../../test/support/client.js');
    const { rl } = limiter();
    const q = encodeQuery('flood.example', 1, { id: 0x1234 });
    const refused = rl.reply(q, Limit.Refused)!;
    expect(refused.readUInt16BE(0)).toBe(0x1234);
    expect(refused[3] & 0x0f).toBe(5);
    expect(refused.readUInt16BE(4)).toBe(1);
    const tc = rl.reply(q, Limit.Slip)!;
    expect(tc[2] & 0x02).toBe(0x02);
    expect(tc.length).toBe(q.length);
    expect(rl.reply(q, Limit.Drop)).toBeNull();
    expect(rl.reply(Buffer.from([1, 2, 3]), Limit.Refused)).toBeNull();
    expect(rl.counts).toMatchObject({ refused: 1, slip: 1, drop: 2 });
  });
});
