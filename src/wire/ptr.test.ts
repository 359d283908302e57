import { describe, expect, it } from 'vitest';
import { nameText } from './presentation.js';
import { ptrQuery, readPtrAnswer, reverseName } from './ptr.js';

const wire = (name: string) => Buffer.from([...name.split('.').flatMap((l) => [l.length, ...Buffer.from(l, 'latin1')]), 0]);

/** A reply to `query` with the given rcode and answer records (name pointer to the question). */
function reply(query: Buffer, rcode: number, answers: { type: number; ttl: number; rdata: Buffer }[], authority: Buffer[] = []): Buffer {
  const head = Buffer.from(query.subarray(0, query.length));
  head[2] |= 0x80;
  head[3] = (head[3] & 0xf0) | rcode;
  head.writeUInt16BE(answers.length, 6);
  head.writeUInt16BE(authority.length, 8);
  const rrs = answers.map((a) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(a.type, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(a.ttl, 6);
    rr.writeUInt16BE(a.rdata.length, 10);
    return Buffer.concat([rr, a.rdata]);
  });
  return Buffer.concat([head, ...rrs, ...authority]);
}

describe('PTR questions and answers', () => {
  it('reverse names for IPv4 and IPv6', () => {
    expect(nameText(reverseName('10.0.0.5')!)).toBe('5.0.0.10.in-addr.arpa');
    expect(nameText(reverseName('::ffff:10.0.0.5')!)).toBe('5.0.0.10.in-addr.arpa');
    expect(nameText(reverseName('2001:db8::1')!)).toBe('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
    expect(reverseName('not an address')).toBeNull();
  });

  it('reads the PTR name in presentation form (hostile bytes escaped), NXDOMAIN as no name, and ignores what is not the answer', () => {
    const q = ptrQuery(0x1234, '10.0.0.5')!;
    expect(readPtrAnswer(reply(q, 0, [{ type: 12, ttl: 600, rdata: wire('alice-laptop.corp.example') }]), q)).toEqual({ name: 'alice-laptop.corp.example', ttl: 600 });
    const hostile = Buffer.from([5, 0x1b, 0x5b, 0x32, 0x4a, 0x2e, 3, 0x63, 0x6f, 0x6d, 0]);
    expect(readPtrAnswer(reply(q, 0, [{ type: 12, ttl: 60, rdata: hostile }]), q)).toEqual({ name: '\\027[2j\\..com', ttl: 60 });
    expect(readPtrAnswer(reply(q, 3, []), q)).toEqual({ name: '', ttl: 0 });
    expect(readPtrAnswer(reply(q, 0, [{ type: 5, ttl: 60, rdata: wire('x.example') }]), q)).toEqual({ name: '', ttl: 0 });
    expect(readPtrAnswer(reply(q, 2, []), q)).toBeNull(); // SERVFAIL: nothing to keep
    const other = ptrQuery(0x1235, '10.0.0.5')!;
    expect(readPtrAnswer(reply(other, 0, [{ type: 12, ttl: 60, rdata: wire('x') }]), q)).toBeNull(); // another id
    const otherName = ptrQuery(0x1234, '10.0.0.6')!;
    expect(readPtrAnswer(reply(otherName, 0, [{ type: 12, ttl: 60, rdata: wire('x') }]), q)).toBeNull(); // another question
    // A pointer that loops, and one past the end: no name, never a hang.
    expect(readPtrAnswer(reply(q, 0, [{ type: 12, ttl: 60, rdata: Buffer.from([0xc0, q.length + 12]) }]), q)).toEqual({ name: '', ttl: 0 });
    expect(readPtrAnswer(reply(q, 0, [{ type: 12, ttl: 60, rdata: Buffer.from([0xc0, 0xff]) }]), q)).toEqual({ name: '', ttl: 0 });
    const cut = reply(q, 0, [{ type: 12, ttl: 60, rdata: wire('alice') }]);
    expect(readPtrAnswer(cut.subarray(0, cut.length - 3), q)).toBeNull();
  });

  it('a negative answer is kept for its SOA minimum', () => {
    const q = ptrQuery(7, '10.0.0.9')!;
    const soaRdata = Buffer.concat([wire('ns.example'), wire('host.example'), Buffer.from([0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 1, 44])]);
    const soa = Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 6, 0, 1, 0, 0, 14, 16]), Buffer.from([soaRdata.length >> 8, soaRdata.length & 255]), soaRdata]);
    expect(readPtrAnswer(reply(q, 3, [], [soa]), q)).toEqual({ name: '', ttl: 300 });
  });
});
