import { describe, expect, it } from 'vitest';
import { InvalidName, normalizeName } from './name.js';

const reason = (raw: string): string => {
  const r = normalizeName(raw);
  if (!(r instanceof InvalidName)) throw new Error(`${raw} was accepted as ${r}`);
  return r.reason;
};

describe('normalizeName', () => {
  it('keeps a plain name as it is (same string, nothing allocated)', () => {
    const s = 'chat.deepseek.com';
    expect(normalizeName(s)).toBe(s);
  });

  it('lower-cases, drops one trailing dot, accepts _ and -', () => {
    expect(normalizeName('Chat.DeepSeek.COM.')).toBe('chat.deepseek.com');
    expect(normalizeName('_dmarc.x-y.example')).toBe('_dmarc.x-y.example');
  });

  it('turns IDN into punycode', () => {
    expect(normalizeName('Bücher.de')).toBe('xn--bcher-kva.de');
    expect(normalizeName('例え.テスト.')).toBe('xn--r8jz45g.xn--zckzah');
  });

  it('enforces RFC 1035 lengths: 63-octet labels and 253-octet names pass, one more fails', () => {
    const l63 = 'a'.repeat(63);
    expect(normalizeName(`${l63}.com`)).toBe(`${l63}.com`);
    expect(reason(`${'a'.repeat(64)}.com`)).toBe('label longer than 63 octets');
    const n253 = [l63, l63, l63, 'a'.repeat(61)].join('.');
    expect(n253.length).toBe(253);
    expect(normalizeName(n253)).toBe(n253);
    expect(reason(`${n253}a`)).toBe('name longer than 253 octets');
  });

  it('says why a name is refused', () => {
    expect(reason('')).toBe('empty name');
    expect(reason('.')).toBe('empty name');
    expect(reason('a..b')).toBe('empty label');
    expect(reason('.a.com')).toBe('empty label');
    expect(reason('ex ample.com')).toBe('invalid character " "');
    expect(reason('bad!name.com')).toBe('invalid character "!"');
    expect(reason('Bad/Name.com')).toBe('invalid character "/"');
    expect(reason('10.0.0.1')).toBe('an IP address, not a domain name');
  });
});
