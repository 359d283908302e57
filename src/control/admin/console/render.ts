// The console's HTML, rendered on the server: status, the policy in force
// per group, pauses and exceptions with their expiry, who made them and
// why, lists and catalogue, SVG charts of blocked attempts over the last
// hour with its totals, and the history (1 h to 30 d from the query log or
// its PostgreSQL sink) with a search by client, name or service. No
// framework, no build step, nothing fetched from the internet; console.js
// only sends the token holder's actions and swaps in fresh fragments.

import type { ExceptionView } from '../../state/exceptions.js';
import type { RequestView } from '../../state/access.js';
import { clientLabel } from '../../identity/who.js';
import { visible } from '../../../text/visible.js';
import type { SharedStateStatus } from '../../state/runtime.js';
import type { History, HistoryQuery, Range } from '../../observe/history.js';
import { type ConsoleStats, type Dimension, MINUTES } from './stats.js';

export interface ConsoleData {
  instance: string;
  now: number;
  ready: boolean;
  upstreamAnswering: boolean;
  sharedState: SharedStateStatus;
  catalogue: { origin: string; version: string; reviewed: string; services: number };
  lists: { name: string; entries: number }[];
  groups: { name: string; clients: string[]; block: string[]; allow: string[]; paused: string | null; pausedBy?: string }[];
  /** `enforce`: blocked for every group, whatever its rules. */
  enforce: string[];
  exceptions: ExceptionView[];
  /** Access requests from the block page, newest first: those waiting, then the latest decisions. */
  requests: RequestView[];
  stats: ConsoleStats;
}

const PALETTE = ['#c0392b', '#2471a3', '#d68910', '#7d3c98', '#138d75', '#566573', '#a04000'];

/** For attributes console.js reads back (a group's or an exception's id): the exact value, HTML-escaped. */
const attr = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * For text shown: HTML-escaped, and every control, bidi or invisible
 * character (U+202E in an exception's reason) shown as its code, so no
 * value reorders or hides what is around it.
 */
export const escapeHtml = (s: string): string => attr(visible(s));

const time = (iso: string | number): string => new Date(iso).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';

/** The whole page; `data` null when the reader must give the token first. */
export function renderPage(data: ConsoleData | null): string {
  const view = data ? renderView(data) : '<p class="notice">Reading this page needs the admin token: enter it above.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>aifence console</title><link rel="icon" href="/favicon.ico" type="image/svg+xml"><link rel="stylesheet" href="/console.css"><script src="/console.js" defer></script></head>
<body data-needs-token="${data ? '0' : '1'}">
<header><h1>aifence</h1><span class="instance">${data ? escapeHtml(data.instance) : ''}</span>
<form id="token-form" autocomplete="off"><label>Admin token <input id="token" type="password" placeholder="needed to change anything"></label><button type="submit">Use</button></form></header>
<p id="message" role="status"></p>
<main id="view">${view}</main>
<section id="history"><h2>History and search</h2>
<form id="history-form" class="add" autocomplete="off"><select name="range">${RANGE_OPTIONS}</select>
<input name="client" placeholder="client: 10.1.2.7, 10.1.2. or a name" maxlength="${MAX_TERM}"><input name="name" placeholder="part of a name" maxlength="${MAX_TERM}">
<input name="service" placeholder="service, e.g. deepseek or list:ai" maxlength="${MAX_TERM}"><button type="submit">Show</button></form>
<div id="history-result"><p class="empty">${data ? 'Loading…' : 'Give the token above, then choose a range.'}</p></div></section>
</body></html>
`;
}

/** The part console.js refreshes. */
export function renderView(d: ConsoleData): string {
  const state = d.sharedState;
  const stateText = state.backend === 'local' ? 'this instance only' : state.connected ? `Redis, connected${state.lastSync ? `, read ${time(state.lastSync)}` : ''}` : `Redis UNREACHABLE: enforcing the last state read${state.error ? ` (${escapeHtml(state.error)})` : ''}`;
  return `
<section class="status">
  <div class="${d.ready ? 'ok' : 'bad'}">${d.ready ? 'serving' : 'not ready'}</div>
  <div class="${d.upstreamAnswering ? 'ok' : 'bad'}">upstream ${d.upstreamAnswering ? 'answering' : 'NOT answering'}</div>
  <div class="${state.connected ? 'ok' : 'bad'}">shared state: ${stateText}</div>
  <div>catalogue ${escapeHtml(d.catalogue.origin)} ${escapeHtml(d.catalogue.version)}, ${d.catalogue.services} services, reviewed ${escapeHtml(d.catalogue.reviewed || 'never')}</div>
</section>
<section><h2>Blocked attempts, last hour</h2>
${totalsLine(d.stats.totals(), 'Last hour')}
${chart(d.stats, 'service', 'by service')}
<div class="pair">${ranking(d.stats, 'group', 'by group')}${ranking(d.stats, 'client', 'by client')}</div>
</section>
<section><h2>Policy in force</h2>
${d.enforce.length > 0 ? `<p class="enforced">Enforced for every group (no allow, exception or pause re-opens it): ${d.enforce.map(escapeHtml).join(', ')}</p>` : ''}
<table class="groups"><thead><tr><th>group</th><th>clients</th><th>blocks</th><th>allows</th><th>blocking</th><th></th></tr></thead><tbody>
${d.groups.map(groupRow).join('\n')}
</tbody></table></section>
${requestsSection(d.requests)}
<section><h2>Exceptions made at run time</h2>
${d.exceptions.length === 0 ? '<p class="empty">none in force</p>' : `<table class="exceptions"><thead><tr><th>group</th><th>allows</th><th>until</th><th>reason</th><th>by</th><th></th></tr></thead><tbody>
${d.exceptions.map(exceptionRow).join('\n')}</tbody></table>`}
<form id="add-exception" class="add"><select name="group">${d.groups.map((g) => `<option>${escapeHtml(g.name)}</option>`).join('')}</select>
<input name="select" placeholder="service:claude or list:NAME" required maxlength="200"><input name="until" placeholder="4h, 3d or 2027-03-31" required maxlength="40">
<input name="reason" placeholder="reason, e.g. ticket 4711" required maxlength="500"><button type="submit">Add exception</button></form>
</section>
<section><h2>Lists</h2><table class="lists"><tbody>${d.lists.map((l) => `<tr><td>${escapeHtml(l.name)}</td><td class="n">${l.entries}</td></tr>`).join('')}</tbody></table></section>
<footer>rendered ${time(d.now)}</footer>`;
}

function groupRow(g: ConsoleData['groups'][number]): string {
  const name = escapeHtml(g.name);
  const blocking = g.paused ? `<span class="bad">paused until ${time(g.paused)}${g.pausedBy ? ` by ${escapeHtml(g.pausedBy)}` : ''}</span>` : '<span class="ok">on</span>';
  const action = g.paused
    ? `<button data-action="resume" data-group="${attr(g.name)}">Resume</button>`
    : `<button data-action="pause" data-group="${attr(g.name)}" data-minutes="15">Pause 15 min</button>`;
  const list = (items: string[]) => (items.length === 0 ? '<span class="empty">-</span>' : items.map(escapeHtml).join(', '));
  return `<tr data-group="${attr(g.name)}"><td>${name}</td><td>${list(g.clients)}</td><td>${list(g.block)}</td><td>${list(g.allow)}</td><td class="blocking">${blocking}</td><td>${action}</td></tr>`;
}

/** Requests waiting, each with approve and deny for a token holder; then the latest decisions. */
function requestsSection(requests: RequestView[]): string {
  const pending = requests.filter((r) => r.status === 'pending');
  const decided = requests.filter((r) => r.status !== 'pending').slice(0, 10);
  const what = (r: RequestView) => `${escapeHtml(r.name)} <span class="empty">(${escapeHtml(r.select)})</span>`;
  const who = (r: RequestView) => escapeHtml(clientLabel(r.client, r.clientName));
  const waiting =
    pending.length === 0
      ? '<p class="empty">none waiting</p>'
      : `<table class="requests"><thead><tr><th>asked</th><th>client</th><th>group</th><th>for</th><th>how long</th><th>why</th><th></th></tr></thead><tbody>
${pending
  .map(
    (r) =>
      `<tr data-request="${attr(r.id)}"><td>${time(r.created)}</td><td>${who(r)}</td><td>${escapeHtml(r.group)}</td><td>${what(r)}</td><td>${escapeHtml(r.duration)}</td><td>${escapeHtml(r.reason)}</td><td class="actions"><button data-action="approve" data-id="${attr(r.id)}">Approve</button> <button data-action="deny" data-id="${attr(r.id)}">Deny</button></td></tr>`,
  )
  .join('\n')}</tbody></table>`;
  const history =
    decided.length === 0
      ? ''
      : `<table class="decided"><thead><tr><th>decided</th><th>client</th><th>for</th><th>decision</th><th>by</th></tr></thead><tbody>
${decided.map((r) => `<tr data-request="${attr(r.id)}" data-status="${r.status}"><td>${time(r.decided ?? r.created)}</td><td>${who(r)}</td><td>${what(r)}</td><td>${r.status === 'approved' ? `<span class="ok">approved</span> until ${time(r.until ?? r.created)}` : '<span class="bad">denied</span>'}</td><td>${escapeHtml(r.by ?? '')}</td></tr>`).join('\n')}</tbody></table>`;
  return `<section class="access"><h2>Access requests</h2>
${waiting}${history}</section>`;
}

function exceptionRow(e: ExceptionView): string {
  return `<tr data-id="${attr(e.id)}"><td>${escapeHtml(e.group)}${e.client ? ` <span class="empty">(${escapeHtml(e.client)} only)</span>` : ''}</td><td>${escapeHtml(e.select)}</td><td>${time(e.until)}</td><td>${escapeHtml(e.reason)}</td><td>${escapeHtml(e.author)} on ${escapeHtml(e.instance)}</td><td><button data-action="revoke" data-id="${attr(e.id)}">Revoke</button></td></tr>`;
}

/** Search terms: short, like the inputs that send them. */
export const MAX_TERM = 200;
const RANGE_LABELS: Record<Range, string> = { '1h': 'last hour', '24h': 'last 24 hours', '7d': 'last 7 days', '30d': 'last 30 days' };
const RANGE_OPTIONS = (Object.keys(RANGE_LABELS) as Range[]).map((r) => `<option value="${r}"${r === '24h' ? ' selected' : ''}>${RANGE_LABELS[r]}</option>`).join('');

function totalsLine(t: { queries: number | null; blocked: number; excepted: number }, label: string): string {
  const queries = t.queries === null ? 'queries not logged (queryLog.mode: blocked)' : `${t.queries} queries`;
  return `<p class="totals" data-queries="${t.queries ?? ''}" data-blocked="${t.blocked}" data-excepted="${t.excepted}">${label}: <b>${queries}</b>, <b>${t.blocked} blocked</b>, <b>${t.excepted} allowed by exception</b></p>`;
}

/** The history fragment for a range and search; `history` null when there is no query log to read. */
export function renderHistory(history: History | null, range: Range, q: HistoryQuery, source: string): string {
  if (history === null) return '<p class="empty">No query log to read: set queryLog.mode (blocked or all) for history and search.</p>';
  const terms = (['client', 'name', 'service'] as const).filter((k) => q[k]).map((k) => `${k} ${escapeHtml(q[k]!)}`);
  const ranking = (title: string, by: string, rows: [string, number][]) =>
    `<figure class="top" data-by="${by}"><figcaption>${title}</figcaption>${rows.length === 0 ? '<p class="empty">none</p>' : `<table><tbody>${rows.map(([k, n]) => `<tr data-key="${attr(k)}"><td>${escapeHtml(k)}</td><td class="n">${n}</td></tr>`).join('')}</tbody></table>`}</figure>`;
  const matches =
    terms.length === 0
      ? ''
      : `<h3>Latest matching entries</h3>${
          history.matches.length === 0
            ? '<p class="empty">none</p>'
            : `<table class="matches"><thead><tr><th>time</th><th>client</th><th>group</th><th>name</th><th>type</th><th>verdict</th><th>service</th><th>exception</th></tr></thead><tbody>${history.matches
                .map((m) => `<tr><td>${time(m.time)}</td>${[m.client, m.group, m.name, m.type, m.verdict, m.service, m.exception].map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
                .join('')}</tbody></table>`
        }`;
  return `<div class="history" data-range="${range}">
${totalsLine(history, `${RANGE_LABELS[range][0].toUpperCase()}${RANGE_LABELS[range].slice(1)}${terms.length > 0 ? `, ${terms.join(', ')}` : ''} (${escapeHtml(source)})`)}
<div class="pair">${ranking('Most blocked services', 'service', history.services)}${ranking('Most blocked clients', 'client', history.clients)}</div>
${ranking('Exceptions used (who made them, and why)', 'exception', history.exceptions)}
${matches}</div>`;
}

/** Stacked bars, one per minute. */
function chart(stats: ConsoleStats, by: Dimension, title: string): string {
  const s = stats.series(by);
  const W = 720;
  const H = 160;
  const bar = W / MINUTES;
  const max = Math.max(1, ...s.counts.map((row) => row.reduce((a, b) => a + b, 0)));
  const total = [...s.totals.values()].reduce((a, b) => a + b, 0);
  let rects = '';
  s.counts.forEach((row, i) => {
    let y = H;
    row.forEach((n, k) => {
      if (n === 0) return;
      const h = (n / max) * (H - 10);
      y -= h;
      rects += `<rect x="${(i * bar + 1).toFixed(1)}" y="${y.toFixed(1)}" width="${(bar - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${PALETTE[k % PALETTE.length]}"><title>${escapeHtml(s.keys[k])}: ${n} at ${time(s.minutes[i])}</title></rect>`;
    });
  });
  const legend = s.keys.map((k, i) => `<li data-key="${escapeHtml(k)}"><svg class="swatch" width="10" height="10"><rect width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/></svg>${escapeHtml(k)} <b>${s.totals.get(k) ?? s.counts.reduce((a, row) => a + row[i], 0)}</b></li>`).join('');
  return `<figure class="chart" data-by="${by}" data-total="${total}"><figcaption>${title}: ${total} blocked, peak ${max === 1 && total === 0 ? 0 : max}/min</figcaption>
<svg viewBox="0 0 ${W} ${H + 16}" role="img" aria-label="blocked queries per minute ${title}"><line x1="0" y1="${H}" x2="${W}" y2="${H}" class="axis"/>${rects}
<text x="0" y="${H + 13}">-60 min</text><text x="${W}" y="${H + 13}" text-anchor="end">now</text></svg>
<ul class="legend">${legend || '<li class="empty">nothing blocked in the last hour</li>'}</ul></figure>`;
}

/** Horizontal bars: the top keys over the hour. */
function ranking(stats: ConsoleStats, by: Dimension, title: string): string {
  const s = stats.series(by, 8);
  const rows = [...s.totals].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 8);
  const max = Math.max(1, ...rows.map(([, n]) => n));
  const W = 340;
  const bars = rows
    .map(([k, n], i) => `<g data-key="${escapeHtml(k)}"><text x="0" y="${i * 22 + 14}">${escapeHtml(k.slice(0, 28))}</text><rect x="150" y="${i * 22 + 3}" width="${((n / max) * (W - 200)).toFixed(1)}" height="14" fill="${PALETTE[1]}"/><text x="${(155 + (n / max) * (W - 200)).toFixed(1)}" y="${i * 22 + 14}">${n}</text></g>`)
    .join('');
  return `<figure class="ranking" data-by="${by}"><figcaption>${title}</figcaption>${rows.length === 0 ? '<p class="empty">nothing blocked in the last hour</p>' : `<svg viewBox="0 0 ${W} ${rows.length * 22 + 4}" role="img" aria-label="blocked queries ${title}">${bars}</svg>`}</figure>`;
}
