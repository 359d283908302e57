import dns2 from 'dns2';
import { describe, expect, it } from 'vitest';
import { encodeQuery } from '../../test/support/client.js';
import { BlockAnswers, errorAnswer, truncatedAnswer } from './answers.js';
import { ParseResult, Query, Rcode, Type, parseQuery } from './message.js';

const { Packet } = dns2;

function parsed(name: string, type: number, edns?: number) {
  const msg = encodeQuery(name, type, { id: 4242, edns });
  const q = new Query();
  expect(parseQuery(msg, q)).toBe(ParseResult.Ok);
  return { msg, q };
}

describe('BlockAnswers', () => {
  it('nxdomain: NXDOMAIN with an SOA whose minimum is the block TTL, question bytes echoed', () => {
    const { msg, q } = parsed('cHaT.DeepSeek.com', Type.A);
    const reply = new BlockAnswers({ kind: 'nxdomain' }, 120, ['service:deepseek']).answer(msg, q, 0);
    const p = Packet.parse(reply);
    expect(p.header).toMatchObject({ id: 4242, qr: 1, rcode: Rcode.NXDOMAIN, rd: 1, ra: 1 });
    expect(reply.subarray(12, q.questionEnd)).toEqual(msg.subarray(12, q.questionEnd));
    expect(p.authorities[0]).toMatchObject({ type: Type.SOA, ttl: 120, minimum: 120 });
    expect(p.additionals).toHaveLength(0);
  });

  it('null: 0.0.0.0 for A, :: for AAAA, NODATA with SOA for HTTPS, MX and TXT', () => {
    const answers = new BlockAnswers({ kind: 'null' }, 60, ['x']);
    const a = Packet.parse(answers.answer(parsed('x.com', Type.A).msg, parsed('x.com', Type.A).q, 0));
    expect(a.answers[0]).toMatchObject({ type: Type.A, address: '0.0.0.0', ttl: 60 });
    const aaaa = Packet.parse(answers.answer(parsed('x.com', Type.AAAA).msg, parsed('x.com', Type.AAAA).q, 0));
    expect(aaaa.answers[0]).toMatchObject({ type: Type.AAAA, address: '::' });
    for (const type of [Type.HTTPS, Type.MX, Type.TXT]) {
      const { msg, q } = parsed('x.com', type);
      const p = Packet.parse(answers.answer(msg, q, 0));
      expect(p.header.rcode).toBe(Rcode.NOERROR);
      expect(p.answers).toHaveLength(0);
      expect(p.authorities[0].type).toBe(Type.SOA);
    }
  });

  it('sinkhole answers the configured addresses; refused answers REFUSED', () => {
    const sink = new BlockAnswers({ kind: 'sinkhole', ipv4: '10.0.0.80', ipv6: 'fd00::80' }, 60, ['x']);
    const { msg, q } = parsed('x.com', Type.ANY);
    const any = Packet.parse(sink.answer(msg, q, 0));
    expect(any.answers.map((r) => r.address)).toEqual(['10.0.0.80', 'fd00::80']);
    const refused = new BlockAnswers({ kind: 'refused' }, 60, ['x']);
    expect(refused.answer(msg, q, 0)[3] & 0x0f).toBe(Rcode.REFUSED);
  });

  it('adds OPT with Extended DNS Error 15 naming the list when the client sent EDNS', () => {
    const { msg, q } = parsed('chat.deepseek.com', Type.A, 1232);
    const reply = new BlockAnswers({ kind: 'nxdomain' }, 60, ['admin', 'service:deepseek']).answer(msg, q, 1);
    const opt = reply.subarray(reply.length - (11 + 4 + 2 + 'blocked by aifence: service:deepseek'.length));
    expect(opt.readUInt16BE(1)).toBe(Type.OPT);
    expect(opt.readUInt16BE(11)).toBe(15); // EDE option
    expect(opt.readUInt16BE(15)).toBe(15); // Blocked
    expect(opt.subarray(17).toString()).toBe('blocked by aifence: service:deepseek');
    expect(reply.readUInt16BE(10)).toBe(1);
  });
});

describe('error and truncated answers', () => {
  it('SERVFAIL keeps ID and question; TC answers carry no records', () => {
    const { msg, q } = parsed('Example.COM', Type.A);
    const fail = Packet.parse(errorAnswer(msg, q, Rcode.SERVFAIL));
    expect(fail.header).toMatchObject({ id: 4242, rcode: Rcode.SERVFAIL });
    expect(fail.questions[0].name).toBe('Example.COM');
    const tc = truncatedAnswer(msg, q);
    expect(tc[2] & 0x02).toBe(0x02);
    expect(tc.readUInt16BE(6)).toBe(0);
  });
});
