// The block page as HTML (for a browser navigating) and as a small JSON
// error (for the AI service's API clients). One inline style, allowed by
// its hash; no script, nothing fetched from anywhere; every value that came
// from outside (the name, the admin's texts, a requester's reason, the
// catalogue's names) is escaped and shown with its control characters as
// codes, so nothing in it can become markup or reorder the page.

import { createHash } from 'node:crypto';
import { escapeHtml } from '../admin/console/render.js';
import { type AccessRequest, REQUEST_DURATIONS, type RequestDuration, durationText } from '../state/requests.js';
import type { PageFacts } from './facts.js';
import { LANGUAGES, type Messages, fill } from './messages.js';

export interface PageView {
  lang: string;
  /** Null when the page cannot say what was blocked: no usable name (an IP address, a hostile Host), or a client this resolver does not serve. */
  facts: PageFacts | null;
  organisation?: string;
  contact?: string;
  time: number;
  reference: string;
  /** The access-request part: null when requests are off or there is nothing to ask for. */
  request: null | {
    /** The form's token (same-origin proof, bound to this client and name). */
    token: string;
    /** This client's latest request for it. */
    latest?: AccessRequest;
    /** What went wrong with the form just sent. */
    notice?: 'limited' | 'expired' | 'invalid' | 'refused';
  };
}

const CSS = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f6f7;color:#1c2833}
main{max-width:42rem;margin:6vh auto;background:#fff;border-top:6px solid #c0392b;padding:1.5rem 2rem;box-shadow:0 1px 4px #0002}
.org{color:#566573;margin:0;font-weight:600}h1{font-size:1.5rem;margin:.3rem 0 1rem;overflow-wrap:anywhere}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.message{background:#fdf2e9;border-left:4px solid #d68910;padding:.5rem 1rem;white-space:pre-line}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:1rem 0}dt{color:#566573}dd{margin:0;overflow-wrap:anywhere}
.status{padding:.5rem 1rem;border-radius:4px;background:#eaf2f8}.status.approved{background:#d5f5e3}.status.denied,.notice{background:#fadbd8;padding:.5rem 1rem}
form label{display:block;margin:.5rem 0}textarea,select{display:block;width:100%;box-sizing:border-box;font:inherit;margin-top:.2rem}
button{font:inherit;padding:.4rem 1rem;margin-top:.5rem}footer{margin-top:1.5rem;color:#808b96;font-size:.85rem}`;

/** The page runs nothing and loads nothing: its one style by hash, its form posting to itself, in no frame. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': `default-src 'none'; style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with the form, and it would be refused.
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

const e = escapeHtml;

function when(ms: number, lang: string): string {
  return `${new Intl.DateTimeFormat(lang, { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' }).format(new Date(ms))} UTC`;
}

export function renderHtml(v: PageView): string {
  const m = LANGUAGES[v.lang] ?? LANGUAGES.en;
  const f = v.facts;
  const heading = f?.blocked ? (f.service ? fill(m.headingService, { service: e(f.service.name) }) : m.headingSite) : f ? m.notBlocked : m.headingSite;
  const rows: [string, string, string][] = [];
  if (f) {
    rows.push(['name', m.site, e(f.name)]);
    if (f.service) rows.push(['service', m.service, e(f.service.name)], ['vendor', m.vendor, e(f.service.vendor)]);
    if (f.blocked) rows.push(['rule', m.rule, e(f.rule ?? (f.select ?? ''))]);
    rows.push(['group', m.group, e(f.group)]);
  }
  rows.push(['time', m.time, e(when(v.time, v.lang))], ['reference', m.reference, e(v.reference)]);
  return `<!doctype html>
<html lang="${v.lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>${e(m.title)}${f?.blocked ? ` - ${e(f.name)}` : ''}</title><link rel="icon" href="data:,"><style>${CSS}</style></head>
<body><main data-blocked="${f?.blocked ? '1' : '0'}">
${v.organisation ? `<p class="org">${e(v.organisation)}</p>` : ''}
<h1>${heading}</h1>
${f?.message ? `<div class="message" role="note"><b>${e(m.message)}:</b> ${e(f.message)}</div>` : ''}
<dl class="facts">${rows.map(([key, label, value]) => `<dt>${e(label)}</dt><dd data-fact="${key}">${value}</dd>`).join('')}</dl>
${v.contact ? `<p class="contact">${e(m.contact)}: ${e(v.contact)}</p>` : ''}
${v.request ? requestPart(v, m) : f?.enforced && f.blocked ? `<p class="enforced" data-enforced="1">${e(m.enforced)}</p>` : ''}
<footer>${e(m.footer)}</footer>
</main></body></html>
`;
}

function requestPart(v: PageView, m: Messages): string {
  const r = v.request!;
  const latest = r.latest;
  let status = '';
  if (latest?.status === 'pending') status = fill(m.pending, { created: e(when(latest.created, v.lang)) });
  if (latest?.status === 'approved') status = fill(m.approved, { by: e(latest.by ?? ''), until: e(when(latest.until ?? 0, v.lang)) });
  if (latest?.status === 'denied') status = fill(m.denied, { by: e(latest.by ?? ''), time: e(when(latest.decided ?? 0, v.lang)) });
  const statusHtml = latest ? `<p class="status ${latest.status}" data-status="${latest.status}" data-request="${e(latest.id)}">${status}</p>` : '';
  const notice = r.notice ? `<p class="notice" data-notice="${r.notice}">${e(m[r.notice])}</p>` : '';
  // One request waits at a time; once decided (or never made) the form is offered.
  if (latest?.status === 'pending' || latest?.status === 'approved') return `<section class="request"><h2>${e(m.ask)}</h2>${statusHtml}${notice}</section>`;
  const options = (Object.keys(REQUEST_DURATIONS) as RequestDuration[]).map((d) => `<option value="${d}"${d === '1d' ? ' selected' : ''}>${e(m.durations[d])}</option>`).join('');
  return `<section class="request"><h2>${e(m.ask)}</h2>${statusHtml}${notice}
<form method="post" action="/request" class="ask"><input type="hidden" name="token" value="${e(r.token)}">
<label>${e(m.reason)}<textarea name="reason" rows="3" maxlength="300" required></textarea></label>
<label>${e(m.duration)}<select name="duration">${options}</select></label>
<button type="submit">${e(m.send)}</button></form></section>`;
}

/** The JSON an API client gets with its 451: the same facts, no markup. */
export function renderJson(v: PageView): Record<string, unknown> {
  const f = v.facts;
  const out: Record<string, unknown> = {
    error: f === null || f.blocked ? 'blocked' : 'not blocked',
    message: f?.blocked ? `${f.name} is blocked on this network${f.service ? ` (${f.service.name})` : ''}` : 'this is the block page of the network\'s DNS filter',
  };
  if (f) {
    Object.assign(out, { name: f.name, service: f.service?.id ?? null, serviceName: f.service?.name ?? null, vendor: f.service?.vendor ?? null, group: f.group, rule: f.rule, list: f.list });
    if (f.message) out.policy = f.message;
  }
  if (v.organisation) out.organisation = v.organisation;
  if (v.contact) out.contact = v.contact;
  out.time = new Date(v.time).toISOString();
  out.reference = v.reference;
  if (v.request?.latest) out.request = { id: v.request.latest.id, status: v.request.latest.status, duration: durationText(v.request.latest.duration) };
  return out;
}
