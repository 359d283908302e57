import { describe, expect, it } from 'vitest';
import { LANGUAGES, chooseLanguage, fill } from './messages.js';

describe('the block page language', () => {
  it('follows Accept-Language by weight, then order, English otherwise', () => {
    expect(chooseLanguage(undefined)).toBe('en');
    expect(chooseLanguage('ko-KR,ko;q=0.9,en-US;q=0.8')).toBe('ko');
    expect(chooseLanguage('pt-BR;q=1, de;q=0.4, fr;q=0.7')).toBe('fr');
    expect(chooseLanguage('ja;q=0.2, nl')).toBe('nl');
    expect(chooseLanguage('*')).toBe('en');
    expect(chooseLanguage('xx,'.repeat(10_000) + 'de')).toBe('en'); // read to a bound, not to the end
  });

  it('has every message in every language, each placeholder kept', () => {
    const keys = Object.keys(LANGUAGES.en);
    for (const [lang, m] of Object.entries(LANGUAGES)) {
      expect(Object.keys(m), lang).toEqual(keys);
      for (const key of keys) {
        const en = JSON.stringify(LANGUAGES.en[key as keyof typeof m]).match(/\{\w+\}/g) ?? [];
        expect((JSON.stringify(m[key as keyof typeof m]).match(/\{\w+\}/g) ?? []).sort(), `${lang}.${key}`).toEqual(en.sort());
      }
    }
    expect(fill('{a} and {b}', { a: '1' })).toBe('1 and {b}');
  });
});
