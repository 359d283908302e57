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

  describe('RFC 8906 and RFC 6891 cases', () => {
    const withOpt = (edit: (opt: Buffer) => void, options: Buffer = Buffer.alloc(0)) => {
      const msg = encodeQuery('example.com', 1);
      msg.writeUInt16BE(1, 10);
      const opt = Buffer.concat([Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, options.length >> 8, options.length & 0xff]), options]);
      edit(opt);
      return Buffer.concat([msg, opt]);
    };
    it('unknown opcodes: NOTIMP (§3.1.3)', () => {
      for (const opcode of [3, 6, 15]) {
        const msg = encodeQuery('example.com', 1);
        msg[2] = (opcode << 3) | 1;
        expect(parseQuery(msg, new Query())).toBe(ParseResult.NotImp);
      }
    });
    it('unknown query types are served (§3.1.2); meta types and transfers are not', () => {
      expect(parseQuery(encodeQuery('example.com', 65280), new Query())).toBe(ParseResult.Ok);
      expect(parseQuery(encodeQuery('example.com', 254), new Query())).toBe(ParseResult.NotImp);
      expect(parseQuery(encodeQuery('example.com', 252), new Query())).toBe(ParseResult.Refused);
      expect(parseQuery(encodeQuery('example.com', 41), new Query())).toBe(ParseResult.FormErr);
    });
    it('EDNS version above 0: BADVERS (§3.2.3)', () => {
      expect(parseQuery(withOpt((o) => (o[6] = 1)), new Query())).toBe(ParseResult.BadVers);
    });
    it('unknown EDNS flags and options are ignored (§3.2.4, §3.2.5)', () => {
      const q = new Query();
      expect(parseQuery(withOpt((o) => (o[8] = 0x80)), q)).toBe(ParseResult.Ok);
      expect(parseQuery(withOpt(() => undefined, Buffer.from([0, 100, 0, 2, 1, 2])), q)).toBe(ParseResult.Ok);
      expect(q.edns).toBe(true);
    });
    it('a malformed OPT is FORMERR: options past its end, a second OPT, a non-root owner', () => {
      expect(parseQuery(withOpt(() => undefined, Buffer.from([0, 100, 0, 9, 1])), new Query())).toBe(ParseResult.FormErr);
      const two = withOpt(() => undefined);
      const second = Buffer.concat([two, two.subarray(two.length - 11)]);
      second.writeUInt16BE(2, 10);
      expect(parseQuery(second, new Query())).toBe(ParseResult.FormErr);
      const named = withOpt(() => undefined);
      const owned = Buffer.concat([named.subarray(0, named.length - 11), Buffer.from([1, 97]), named.subarray(named.length - 11)]);
      expect(parseQuery(owned, new Query())).toBe(ParseResult.FormErr);
    });
    it('caps the advertised UDP size at the server maximum, and never below 512', () => {
      const q = new Query();
      parseQuery(withOpt((o) => o.writeUInt16BE(65535, 3)), q);
      expect(q.udpSize).toBe(1232);
      parseQuery(withOpt((o) => o.writeUInt16BE(65535, 3)), q, 4096);
      expect(q.udpSize).toBe(4096);
      parseQuery(withOpt((o) => o.writeUInt16BE(100, 3)), q);
      expect(q.udpSize).toBe(512);
    });
  });
});
