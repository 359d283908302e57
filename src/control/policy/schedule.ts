// Is a rule's weekly window open at a given instant, in the rule's time zone?

import type { Schedule } from '../config/schema.js';

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The local weekday (0 = Sunday) and minute of the day at `now` in `timeZone`. */
export function localTime(now: number, timeZone: string): { day: number; minute: number } {
  let day = 0;
  let hour = 0;
  let minute = 0;
  for (const part of formatter(timeZone).formatToParts(now)) {
    if (part.type === 'weekday') day = WEEKDAYS[part.value];
    else if (part.type === 'hour') hour = Number(part.value);
    else if (part.type === 'minute') minute = Number(part.value);
  }
  return { day, minute: hour * 60 + minute };
}

/** A window with `to` before `from` spans midnight: it belongs to the day it opens on. */
export function scheduleActive(s: Schedule, now: number): boolean {
  const { day, minute } = localTime(now, s.timeZone);
  if (s.from < s.to) return s.days.includes(day) && minute >= s.from && minute < s.to;
  if (minute >= s.from) return s.days.includes(day);
  return minute < s.to && s.days.includes((day + 6) % 7);
}
