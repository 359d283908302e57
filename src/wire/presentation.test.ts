// The presentation form: every byte value in every label position reads
// back as the bytes asked (up to ASCII case), different names never share a
// text, and a dot inside a label is never a label boundary.

import { describe, expect, it } from 'vitest';
import { NameTextError, nameText, parseNameText, textLabels } from './presentation.js';

/** Wire form of labels given as bytes. */
const wire = (...labels: number[][]): Uint8Array => Uint8Array.from([...labels.flatMap((l) => [l.length, ...l]), 0]);
const ascii = (s: string): number[] => [...Buffer.from(s, 'latin1')];
const lower = (w: Uint8Array): Uint8Array => w.map((b) => (b >= 0x41 && b <= 0x5a ? b | 0x20 : b));

/** Every byte value at the start, middle and end of the first, a middle and the last label. */
function* everyBytePlacement(): Generator<Uint8Array> {
  for (let b = 0; b < 256; b++) {
    for (const shape of [[b], [b, 0x61, 0x62], [0x61, b, 0x62], [0x61, 0x62, b], [b, b]]) {
      yield wire(shape, ascii('deepseek'), ascii('com'));
      yield wire(ascii('chat'), shape, ascii('com'));
      yield wire(ascii('chat'), ascii('deepseek'), shape);
    }
  }
}

describe('nameText and parseNameText', () => {
  it('round-trip all 256 byte values in every label position (ASCII case folded), and never give two names one text', () => {
    const seen = new Map<string, string>();
    let n = 0;
    for (const w of everyBytePlacement()) {
      const text = nameText(w);
      expect(text, Buffer.from(w).toString('hex')).toMatch(/^[\x21-\x7e]+$/); // printable ASCII only: no control byte, no space
      expect(parseNameText(text)).toEqual(lower(w));
      const key = Buffer.from(lower(w)).toString('hex');
      const other = seen.get(text);
      if (other !== undefined) expect(other, text).toBe(key);
      seen.set(text, key);
      n++;
    }
    expect(n).toBe(256 * 5 * 3);
  });

  it('writes a dot inside a label as \\. : one label chat.deepseek.com is not the three-label name', () => {
    const one = wire(ascii('chat.deepseek.com'));
    const three = wire(ascii('chat'), ascii('deepseek'), ascii('com'));
    expect(nameText(one)).toBe('chat\\.deepseek\\.com');
    expect(nameText(three)).toBe('chat.deepseek.com');
    expect(nameText(wire(ascii('a.b')))).not.toBe(nameText(wire(ascii('a'), ascii('b'))));
    expect(textLabels(nameText(one))).toEqual(['chat\\.deepseek\\.com']);
    expect(textLabels(nameText(three))).toEqual(['chat', 'deepseek', 'com']);
  });

  it('escapes as dig does, lower-cases ASCII only (RFC 4343), leaves 0xC0-0xDE alone', () => {
    expect(nameText(wire([0x61, 0x00, 0x62], ascii('Chat'), ascii('DeepSeek'), ascii('com')))).toBe('a\\000b.chat.deepseek.com');
    expect(nameText(wire(ascii('a@b$c;d(e)f"g\\h i~'), [0x7f, 0x80, 0xc0, 0xde, 0xff]))).toBe('a\\@b\\$c\\;d\\(e\\)f\\"g\\\\h\\032i~.\\127\\128\\192\\222\\255');
    expect(nameText(wire([0x1b, 0x5b, 0x33, 0x31, 0x6d]))).toBe('\\027[31m'); // no ESC reaches a terminal
    expect(nameText(wire([0xc4], ascii('X')))).toBe('\\196.x');
    expect(nameText(Uint8Array.of(0))).toBe('.');
    expect(parseNameText('.')).toEqual(Uint8Array.of(0));
    expect(parseNameText('Chat.DeepSeek.com.')).toEqual(wire(ascii('Chat'), ascii('DeepSeek'), ascii('com')));
  });

  it('stops at a pointer, a short buffer or 255 octets instead of reading past them', () => {
    expect(nameText(Uint8Array.of(1, 0x61, 0xc0, 12))).toBe('a');
    expect(nameText(Uint8Array.of(3, 0x61))).toBe('.');
    const long = wire(...Array.from({ length: 5 }, () => Array(63).fill(0x61)));
    expect(textLabels(nameText(long))).toHaveLength(3);
  });

  it('refuses text that is not a name, saying why', () => {
    for (const [bad, why] of [
      ['a..b', 'empty label'],
      ['a\\', 'lone backslash'],
      ['a\\25x', 'three digits'],
      ['a\\256', 'three digits'],
      ['a b', 'must be written'],
      ['caf\u00e9', 'must be written'],
      ['a'.repeat(64), 'longer than 63'],
      [Array(5).fill('a'.repeat(63)).join('.'), 'longer than 255'],
    ]) {
      expect(() => parseNameText(bad), bad).toThrow(NameTextError);
      expect(() => parseNameText(bad), bad).toThrow(why);
    }
    // 255 octets exactly is a name: 3 x 63 + 61 and their length bytes and the root.
    expect(parseNameText([...Array(3).fill('a'.repeat(63)), 'a'.repeat(61)].join('.'))).toHaveLength(255);
  });
});
