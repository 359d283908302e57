import { describe, expect, it } from 'vitest';
import { encodeQuery } from '../../test/support/client.js';
import { ParseResult, Query, nameEnd, parseQuery } from './message.js';

describe('parseQuery', () => {
  it('reads ID, question, RD and EDNS', () => {
    const q = new Query();
    const msg = encodeQuery('Chat.DeepSeek.com', 28, { id: 0xbeef, edns: 1232, dnssecOk: true });
    expect(parseQuery(msg, q)).toBe(ParseResult.Ok);
    expect(q).toMatchObject({ id: 0xbeef, qtype: 28, qclass: 1, rd: true, edns: true, dnssecOk: true, udpSize: 1232 });
    expect(q.questionEnd).toBe(12 + 19 + 4);
  });

  it('treats a query without OPT as 512-byte UDP', () => {
    const q = new Query();
    expect(parseQuery(encodeQuery('example.com', 1), q)).toBe(ParseResult.Ok);
    expect(q).toMatchObject({ edns: false, dnssecOk: false, udpSize: 512 });
  });

  it('drops what has no header or is itself a response', () => {
    const q = new Query();
    expect(parseQuery(Buffer.alloc(11), q)).toBe(ParseResult.Drop);
    const response = encodeQuery('example.com', 1);
    response[2] |= 0x80;
    expect(parseQuery(response, q)).toBe(ParseResult.Drop);
  });

  it('answers FORMERR for a broken question and NOTIMP for other opcodes', () => {
    const q = new Query();
    const msg = encodeQuery('example.com', 1);
    expect(parseQuery(msg.subarray(0, msg.length - 2), q)).toBe(ParseResult.FormErr);
    const two = Buffer.from(msg);
    two.writeUInt16BE(2, 4);
    expect(parseQuery(two, q)).toBe(ParseResult.FormErr);
    const trailing = Buffer.concat([msg, Buffer.from([1, 2, 3])]);
    expect(parseQuery(trailing, q)).toBe(ParseResult.FormErr);
    const update = Buffer.from(msg);
    update[2] = (5 << 3) | 1;
    expect(parseQuery(update, q)).toBe(ParseResult.NotImp);
  });

  it('rejects names with compression, long labels or over 255 octets', () => {
    expect(nameEnd(Buffer.from([0xc0, 0x0c]), 0)).toBe(-1);
    expect(nameEnd(Buffer.from([64, ...Buffer.alloc(64, 97), 0]), 0)).toBe(-1);
    const long = Buffer.from([...Array.from({ length: 5 }, () => [63, ...Buffer.alloc(63, 97)]).flat(), 0]);
    expect(nameEnd(long, 0)).toBe(-1);
    expect(nameEnd(Buffer.from([1, 97, 0]), 0)).toBe(3);
  });
});
