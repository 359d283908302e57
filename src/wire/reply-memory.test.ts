import { afterEach, describe, expect, it } from 'vitest';
import { replyBuffer, reuseReplies } from './reply-memory.js';

afterEach(() => reuseReplies(false));

describe('reply memory', () => {
  it('gives a fresh Buffer per answer unless the transport copies answers at once', () => {
    const a = replyBuffer(40);
    const b = replyBuffer(40);
    expect(a).not.toBe(b);
    a[0] = 1;
    b[0] = 2;
    expect(a[0]).toBe(1);
    reuseReplies(true);
    const c = replyBuffer(40);
    expect(replyBuffer(40)).toBe(c);
    expect(replyBuffer(41)).not.toBe(c);
    expect(replyBuffer(41).length).toBe(41);
    // Beyond the scratch sizes: fresh even then.
    expect(replyBuffer(5000)).not.toBe(replyBuffer(5000));
    reuseReplies(false);
    expect(replyBuffer(40)).not.toBe(c);
  });
});
