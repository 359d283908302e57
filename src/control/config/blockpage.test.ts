import { describe, expect, it } from 'vitest';
import { parseConfig } from './schema.js';

const parse = (raw: unknown) => parseConfig(raw, '/etc/aifence', () => ['192.0.2.53']);

describe('blockPage and the page mode', () => {
  it('is off without the section', () => {
    expect(parse({}).blockPage).toBeNull();
  });

  it('reads every key; page mode answers the page addresses; blocking.mode is blocking.answer', () => {
    const c = parse({
      blocking: { mode: 'page' },
      blockPage: {
        http: ['10.0.0.53:80'],
        https: ['10.0.0.53'],
        answer: { ipv4: '10.0.0.53', ipv6: 'fd00::53' },
        ca: { cert: 'ca.pem', key: 'ca-key.pem' },
        organisation: 'Ministry of Examples',
        contact: 'helpdesk, ext. 4711',
        message: 'No generative AI on this network.',
        requests: 'on',
      },
      groups: { default: { block: ['service:deepseek'] }, lab: { clients: ['10.9.0.0/16'], answer: 'nxdomain', message: 'Lab rules apply.' } },
    });
    expect(c.blocking.answer).toEqual({ kind: 'sinkhole', ipv4: '10.0.0.53', ipv6: 'fd00::53' });
    expect(c.blockPage).toMatchObject({ https: [{ host: '10.0.0.53', port: 443, family: 4 }], ca: { cert: '/etc/aifence/ca.pem', key: '/etc/aifence/ca-key.pem' }, requests: true });
    expect(c.groups[1]).toMatchObject({ name: 'lab', answer: { kind: 'nxdomain' }, message: 'Lab rules apply.' });
    expect(parse({ blockPage: { http: ['10.0.0.53'], requests: false } }).blockPage?.requests).toBe(false);
  });

  it('takes the answer from listeners bound to one address', () => {
    expect(parse({ blockPage: { http: ['10.0.0.53:80'], https: ['10.0.0.53:443', '[fd00::53]:443'] } }).blockPage?.answer).toEqual({ ipv4: '10.0.0.53', ipv6: 'fd00::53' });
  });

  it.each([
    [{ blocking: { mode: 'page' } }, 'blocking.mode: "page" needs a blockPage section'],
    [{ blocking: { mode: 'page', answer: 'nxdomain' } }, 'blocking.mode: "page" is the same setting as blocking.answer'],
    [{ blockPage: {} }, 'has neither http nor https'],
    [{ blockPage: { http: ['0.0.0.0:80'] } }, "blockPage.answer: nothing is missing; give this host's address"],
    [{ blockPage: { http: ['10.0.0.53'], answer: { ipv4: 'page.example' } } }, 'blockPage.answer.ipv4: "page.example" is not an IPv4 address'],
    [{ blockPage: { http: ['10.0.0.53'], ca: { cert: 'ca.pem' } } }, 'needs both cert and key'],
    [{ blockPage: { http: ['10.0.0.53'], requests: 'maybe' } }, 'blockPage.requests: "maybe" is not on or off'],
    [{ blockPage: { http: ['10.0.0.53'], message: 'x'.repeat(1001) } }, 'is longer than 1000 characters'],
    [{ blockPage: { http: ['10.0.0.53'] }, groups: { default: { answer: 'pages' } } }, 'is not one of nxdomain | null | refused | page | {ipv4, ipv6}'],
  ])('refuses %j naming key and fix', (raw, message) => {
    expect(() => parse(raw)).toThrow(message);
  });
});
