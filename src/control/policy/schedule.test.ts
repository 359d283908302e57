import { describe, expect, it } from 'vitest';
import { scheduleActive } from './schedule.js';

const weekdays = [1, 2, 3, 4, 5];

describe('scheduleActive', () => {
  it('opens and closes the window in the rule time zone', () => {
    const office = { days: weekdays, from: 8 * 60, to: 18 * 60, timeZone: 'Asia/Seoul', text: '' };
    // Monday 2026-11-23 09:00 in Seoul is 00:00 UTC.
    expect(scheduleActive(office, Date.UTC(2026, 10, 23, 0, 0))).toBe(true);
    expect(scheduleActive(office, Date.UTC(2026, 10, 22, 22, 59))).toBe(false); // 07:59 Seoul
    expect(scheduleActive(office, Date.UTC(2026, 10, 23, 9, 0))).toBe(false); // 18:00 Seoul: closed
    expect(scheduleActive(office, Date.UTC(2026, 10, 22, 1, 0))).toBe(false); // Sunday
  });

  it('lets a window span midnight, counting it to the day it opens', () => {
    const night = { days: [5], from: 22 * 60, to: 6 * 60, timeZone: 'UTC', text: '' };
    expect(scheduleActive(night, Date.UTC(2026, 10, 27, 23, 0))).toBe(true); // Friday 23:00
    expect(scheduleActive(night, Date.UTC(2026, 10, 28, 5, 0))).toBe(true); // Saturday 05:00, Friday's window
    expect(scheduleActive(night, Date.UTC(2026, 10, 29, 5, 0))).toBe(false); // Sunday 05:00
  });
});
