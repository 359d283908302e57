import { describe, expect, it } from 'vitest';
import { parseConfig } from './schema.js';

const parse = (groups: unknown) => parseConfig({ groups }, '/etc/aifence', () => ['192.0.2.53']);

describe('groups', () => {
  it('reads the example policy: prefixes, plain and expiring rules, a group block page', () => {
    const groups = parse({
      default: { block: ['service:deepseek', 'tag:cn'] },
      external: { clients: ['10.20.0.0/16', '2001:db8:20::/48'], block: ['tag:genai'], allow: ['service:copilot'] },
      research: {
        clients: ['10.30.0.5', '10.30.1.0/24'],
        block: ['tag:genai'],
        allow: [{ select: 'service:openai', until: '2027-03-31', reason: 'ticket 4711' }],
        answer: { ipv4: '10.0.0.80', ipv6: 'fd00::80' },
      },
    }).groups;
    expect(groups.map((g) => g.name)).toEqual(['default', 'external', 'research']);
    expect(groups[1].clients.map((c) => c.text)).toEqual(['10.20.0.0/16', '2001:db8:20::/48']);
    expect(groups[2].allow[0]).toEqual({ select: 'service:openai', until: Date.UTC(2027, 3, 1), untilText: '2027-03-31', reason: 'ticket 4711' });
    expect(groups[2].answer).toEqual({ kind: 'sinkhole', ipv4: '10.0.0.80', ipv6: 'fd00::80' });
  });

  it('puts default first even when it is written last, and adds an empty one when missing', () => {
    expect(parse({ lab: { clients: ['10.1.0.0/16'] }, default: {} }).groups.map((g) => g.name)).toEqual(['default', 'lab']);
    expect(parse({ lab: { clients: ['10.1.0.0/16'] } }).groups[0]).toMatchObject({ name: 'default', block: [], allow: [] });
  });

  it('reads schedules with days, times and a time zone', () => {
    const [, office] = parse({
      office: { clients: ['10.5.0.0/16'], block: [{ select: 'tag:genai', schedule: { days: ['mon', 'fri'], from: '08:00', to: '18:30', timezone: 'Europe/Brussels' } }] },
    }).groups;
    expect(office.block[0].schedule).toEqual({ days: [1, 5], from: 480, to: 1110, timeZone: 'Europe/Brussels', text: 'mon,fri 08:00-18:30 Europe/Brussels' });
  });

  it('reads devices beside clients (case folded); a group of devices alone needs no prefixes', () => {
    const [def, phones, lab] = parse({
      default: { devices: ['Kiosk-1'] },
      phones: { devices: ['alice-phone', 'bob-phone'], block: ['tag:genai'] },
      lab: { clients: ['10.9.0.0/16'], devices: ['lab-mac'] },
    }).groups;
    expect(def.devices).toEqual(['kiosk-1']);
    expect(phones).toMatchObject({ clients: [], devices: ['alice-phone', 'bob-phone'] });
    expect(lab.devices).toEqual(['lab-mac']);
  });

  it.each([
    [{ a: { clients: ['10.0.0.0/8'] }, b: { clients: ['10.0.0.0/8'] } }, /groups\.b\.clients: "10\.0\.0\.0\/8" is also a prefix of group 'a'/],
    [{ a: { devices: ['alice-phone'] }, b: { devices: ['Alice-Phone'] } }, /groups\.b\.devices\[0\]: "alice-phone" is also a device of group 'a'; a device may belong to one group only/],
    [{ a: { devices: ['x', 'x'] } }, /groups\.a\.devices\[1\]: "x" is listed twice in this group/],
    [{ a: { devices: ['alice_phone'] } }, /groups\.a\.devices\[0\]: "alice_phone" is not a device id \(1 to 63 of a-z, 0-9 and -\)/],
    [{ a: { devices: ['a.b'] } }, /groups\.a\.devices\[0\]: "a\.b" is not a device id/],
    [{ a: { devices: ['x'.repeat(64)] } }, /groups\.a\.devices\[0\]: "x{64}" is not a device id/],
    [{ a: { devices: [''] } }, /groups\.a\.devices\[0\]: "" is not a device id/],
    [{ a: { devices: ['\u212a'] } }, /groups\.a\.devices\[0\]: "\u212a" is not a device id/],
    [{ a: { clients: ['10.0.0.1'] }, b: { clients: ['10.0.0.1/32'] } }, /groups\.b\.clients: "10\.0\.0\.1\/32" is also a prefix of group 'a'/],
    [{ a: { clients: ['10.0.0.0/33'] } }, /groups\.a\.clients\[0\]: "10\.0\.0\.0\/33" is not an IP prefix/],
    [{ a: { block: ['tag:genai'] } }, /groups\.a\.clients: nothing is missing/],
    [{ default: { clients: ['10.0.0.0/8'] } }, /groups\.default\.clients: \["10\.0\.0\.0\/8"\] is not allowed/],
    [{ default: { allow: [{ select: 'service:openai', until: '2027-02-30' }] } }, /groups\.default\.allow\[0\]\.until: "2027-02-30" is not a date; write YYYY-MM-DD/],
    [{ default: { allow: [{ select: 'service:openai', until: 'next spring' }] } }, /until: "next spring" is not a date/],
    [{ default: { allow: [{ until: '2027-01-01' }] } }, /groups\.default\.allow\[0\]\.select: nothing is not a non-empty string/],
    [{ default: { block: [{ select: 'tag:genai', schedule: { from: '8am' } }] } }, /schedule\.from: "8am" is not a time of day/],
    [{ default: { block: [{ select: 'tag:genai', schedule: { days: ['someday'] } }] } }, /schedule\.days\[0\]: "someday" is not a day/],
    [{ default: { block: [{ select: 'tag:genai', schedule: { timezone: 'Mars/Olympus' } }] } }, /schedule\.timezone: "Mars\/Olympus" is not an IANA time zone/],
    [{ default: { block: [{ select: 'tag:genai', expires: '2027-01-01' }] } }, /groups\.default\.block\[0\]\.expires.*unknown key/],
    [{ default: { answer: 'drop' } }, /groups\.default\.answer: "drop" is not one of nxdomain/],
  ])('rejects %j naming key and value', (groups, message) => {
    expect(() => parse(groups)).toThrow(message);
  });
});
