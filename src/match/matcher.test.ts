import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import type { Matcher } from './types.js';
import { loadLists } from './lists.js';
import type { CompiledMatcher } from './matcher.js';
import { anyBlockNoAllow } from './verdict.js';
import { memoryList, toWire } from '../../test/match/helpers.js';

async function compile(...inputs: Parameters<typeof loadLists>[0]): Promise<Matcher> {
  return (await loadLists(inputs)).matcher;
}

function blocked(m: Matcher, name: string): boolean {
  const mask = m.matchName(name);
  if (mask < 0) throw new Error(`malformed: ${name}`);
  return anyBlockNoAllow(m)[mask] === 1;
}

describe('matching semantics', () => {
  it('an entry blocks the name and all its subdomains, nothing else', async () => {
    const m = await compile(memoryList('ai', ['deepseek.com', 'chat.openai.com']));
    for (const n of ['deepseek.com', 'chat.deepseek.com', 'a.b.c.deepseek.com', 'DeepSeek.COM.', 'chat.openai.com', 'x.chat.openai.com']) {
      expect(blocked(m, n), n).toBe(true);
    }
    for (const n of ['com', 'notdeepseek.com', 'deepseek.co', 'openai.com', 'api.openai.com', 'deepseek.com.evil.example']) {
      expect(blocked(m, n), n).toBe(false);
    }
    expect(m.matchName('example.org')).toBe(0);
  });

  it('an exact list matches only the name itself', async () => {
    const m = await compile(memoryList('x', ['exact.example'], { exact: true }), memoryList('y', ['sub.example']));
    expect(blocked(m, 'exact.example')).toBe(true);
    expect(blocked(m, 'www.exact.example')).toBe(false);
    expect(blocked(m, 'sub.example')).toBe(true);
    expect(blocked(m, 'www.sub.example')).toBe(true);
  });

  it('exact and subtree entries on the same name and on parents combine', async () => {
    const m = await compile(memoryList('sub', ['example.com']), memoryList('exact', ['www.example.com', 'example.com'], { exact: true }));
    const at = (n: string): [boolean, boolean] => [m.blocks(m.matchName(n), 0), m.blocks(m.matchName(n), 1)];
    expect(at('example.com')).toEqual([true, true]);
    expect(at('www.example.com')).toEqual([true, true]);
    expect(at('a.www.example.com')).toEqual([true, false]);
    expect(at('mail.example.com')).toEqual([true, false]);
  });

  it('allow entries beat block entries, across lists, and both stay visible per list', async () => {
    const m = await compile(
      memoryList('block', ['example.com', 'ads.good.example.com']),
      memoryList('allow', ['good.example.com'], { allow: true }),
    );
    expect(blocked(m, 'example.com')).toBe(true);
    expect(blocked(m, 'www.example.com')).toBe(true);
    expect(blocked(m, 'good.example.com')).toBe(false);
    expect(blocked(m, 'x.good.example.com')).toBe(false);
    expect(blocked(m, 'ads.good.example.com')).toBe(false);
    const mask = m.matchName('ads.good.example.com');
    expect([m.blocks(mask, 0), m.allows(mask, 0), m.blocks(mask, 1), m.allows(mask, 1)]).toEqual([true, false, false, true]);
  });

  it('tells many lists apart (not limited to 32)', async () => {
    const lists = Array.from({ length: 80 }, (_, i) => memoryList(`service-${i}`, [`svc${i}.example`, 'shared.example']));
    const m = await compile(...lists);
    for (let i = 0; i < 80; i++) {
      const mask = m.matchName(`www.svc${i}.example`);
      expect(lists.map((_, l) => m.blocks(mask, l)).filter(Boolean)).toHaveLength(1);
      expect(m.blocks(mask, i)).toBe(true);
    }
    const shared = m.matchName('shared.example');
    expect(lists.every((_, l) => m.blocks(shared, l))).toBe(true);
    expect(m.maskCount).toBe(82); // empty, one per service, all of them
    expect(m.blocks(shared, 80)).toBe(false);
  });

  it('compiles an empty set of lists', async () => {
    const m = await compile();
    expect(m.matchName('example.com')).toBe(0);
    expect(m.maskCount).toBe(1);
  });
});

describe('matchWire', () => {
  it('reads the name at an offset in a packet, any case', async () => {
    const m = await compile(memoryList('ai', ['deepseek.com']));
    const mask = m.matchName('deepseek.com');
    expect(mask).toBeGreaterThan(0);
    expect(m.matchWire(toWire('CHAT.DeepSeek.Com', 12), 12)).toBe(mask);
    expect(m.matchWire(toWire('chat.deepseek.org', 12), 12)).toBe(0);
    expect(m.matchWire(toWire(''), 0)).toBe(0); // the root
  });

  it('returns -1 for malformed or compressed names', async () => {
    const m = await compile(memoryList('ai', ['deepseek.com']));
    const name = toWire('chat.deepseek.com');
    expect(m.matchWire(name.subarray(0, name.length - 1), 0)).toBe(-1); // no terminating zero
    expect(m.matchWire(name.subarray(0, 3), 0)).toBe(-1); // label runs past the end
    expect(m.matchWire(Uint8Array.of(0xc0, 0x0c), 0)).toBe(-1); // compression pointer
    expect(m.matchWire(Uint8Array.of(3, 0x61, 0x62, 0x63, 0xc0, 0x0c), 0)).toBe(-1);
    expect(m.matchWire(Uint8Array.of(0x40, 0), 0)).toBe(-1); // label type 01 / length 64
    expect(m.matchWire(name, name.length)).toBe(-1); // offset past the end
    const long = toWire(Array(4).fill('a'.repeat(63)).join('.')); // 4 * 64 + 1 = 257 octets
    expect(m.matchWire(long, 0)).toBe(-1);
    const max = toWire([...Array(3).fill('a'.repeat(63)), 'a'.repeat(61)].join('.')); // 255 octets
    expect(m.matchWire(max, 0)).toBe(0);
  });

  it('matchName returns -1 for names that are not names', async () => {
    const m = await compile(memoryList('ai', ['deepseek.com']));
    expect(m.matchName('a..b')).toBe(-1);
    expect(m.matchName('bad name.com')).toBe(-1);
    expect(m.matchName('x'.repeat(64))).toBe(-1);
  });

  it('finds every name and no other in a full table, probing across its end', async () => {
    // 85% full: long probe runs, and runs that start near the last slot
    // go on from slot 0 (the lookup's wrap-around).
    const listed = Array.from({ length: 3000 }, (_, i) => `n${i}.${i % 3 === 0 ? 'example' : 'test'}`);
    const m = (await compile(memoryList('l', listed))) as CompiledMatcher;
    const { table } = m.parts;
    expect(table[table.length - 1]).not.toBe(0);
    for (const n of listed) expect(m.matchName(`W.${n}`), n).toBeGreaterThan(0);
    for (let i = 0; i < 3000; i++) expect(m.matchName(`n${i}.${i % 3 === 0 ? 'test' : 'example'}`)).toBe(0);
    for (let i = 3000; i < 6000; i++) expect(m.matchName(`n${i}.example`)).toBe(0);
  });

  it('allocates nothing per lookup', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const names = ['deepseek.com', 'chat.deepseek.com', 'www.example.org', 'x.y.z.openai.com', 'a'.repeat(60) + '.com'];
    const m = await compile(memoryList('ai', ['deepseek.com', 'openai.com']), memoryList('ok', ['example.org'], { allow: true }));
    const packets = names.map((n) => toWire(n.toUpperCase(), 12));
    const run = (): number => {
      let sum = 0;
      for (let i = 0; i < 100_000; i++) sum += m.matchWire(packets[i % packets.length], 12);
      return sum;
    };
    run(); // warm up: let the JIT settle
    run();
    gc();
    const before = process.memoryUsage().heapUsed;
    const sum = run();
    const grown = process.memoryUsage().heapUsed - before;
    expect(sum).toBeGreaterThan(0);
    // Even 8 bytes per lookup would be 800 kB.
    expect(grown).toBeLessThan(100_000);
  });
});
