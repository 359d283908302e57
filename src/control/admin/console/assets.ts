// The console's script and style, served from the admin listener itself
// (its Content-Security-Policy allows nothing else). The script keeps the
// token in this tab's sessionStorage, sends it as a bearer token with the
// actions (pause, resume, add and revoke exceptions, approve and deny access
// requests) and swaps in a fresh server-rendered view after each and every
// 15 s; the history (range and search) is fetched as a server-rendered
// fragment when asked for.

export const CONSOLE_JS = `'use strict';
(() => {
  const $ = (s) => document.querySelector(s);
  const token = () => sessionStorage.getItem('aifence-token') || '';
  const headers = (json) => {
    const h = {};
    if (token()) h.authorization = 'Bearer ' + token();
    if (json) h['content-type'] = 'application/json';
    return h;
  };
  const say = (text, bad) => {
    const m = $('#message');
    m.textContent = text;
    m.className = bad ? 'bad' : 'ok';
  };
  async function refresh() {
    const res = await fetch('/console/view', { headers: headers(false), cache: 'no-store' });
    if (res.ok) {
      $('#view').innerHTML = await res.text();
      document.body.dataset.needsToken = '0';
    } else if (res.status === 401) say('The admin token is needed to read this page: enter it above.', true);
  }
  async function call(method, path, body) {
    let res;
    try {
      res = await fetch(path, { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      say('The admin API did not answer: ' + err.message, true);
      return;
    }
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) {
      say((res.status === 401 ? 'Refused: enter the admin token above. ' : 'Refused: ') + (answer.error || res.status), true);
      return;
    }
    say(method + ' ' + path.split('?')[0] + ': done');
    await refresh();
  }
  async function history() {
    const f = new FormData($('#history-form'));
    const q = new URLSearchParams();
    for (const k of ['range', 'client', 'name', 'service']) if (f.get(k)) q.set(k, String(f.get(k)).trim());
    const out = $('#history-result');
    out.setAttribute('aria-busy', 'true');
    try {
      const res = await fetch('/console/history?' + q, { headers: headers(false), cache: 'no-store' });
      if (res.ok) out.innerHTML = await res.text();
      else {
        const answer = await res.json().catch(() => ({}));
        out.textContent = res.status === 401 ? 'The admin token is needed to read the history: enter it above.' : 'Refused: ' + (answer.error || res.status);
      }
    } catch (err) {
      out.textContent = 'The admin API did not answer: ' + err.message;
    }
    out.removeAttribute('aria-busy');
  }
  $('#token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem('aifence-token', $('#token').value.trim());
    $('#token').value = '';
    say(token() ? 'Token kept for this tab.' : 'Token forgotten.');
    void refresh().then(history);
  });
  $('#history-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void history();
  });
  document.addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-action]');
    if (!b) return;
    const group = encodeURIComponent(b.dataset.group || '');
    if (b.dataset.action === 'pause') void call('POST', '/pause?group=' + group + '&minutes=' + b.dataset.minutes);
    if (b.dataset.action === 'resume') void call('POST', '/resume?group=' + group);
    if (b.dataset.action === 'revoke') void call('DELETE', '/exceptions/' + encodeURIComponent(b.dataset.id));
    if (b.dataset.action === 'approve') void call('POST', '/requests/' + encodeURIComponent(b.dataset.id) + '/approve');
    if (b.dataset.action === 'deny') void call('POST', '/requests/' + encodeURIComponent(b.dataset.id) + '/deny');
  });
  document.addEventListener('submit', (ev) => {
    if (ev.target.id !== 'add-exception') return;
    ev.preventDefault();
    const f = new FormData(ev.target);
    void call('POST', '/exceptions', { group: f.get('group'), select: f.get('select'), until: f.get('until'), reason: f.get('reason') });
  });
  if (document.body.dataset.needsToken === '1' && token()) void refresh().then(history);
  else if (document.body.dataset.needsToken === '0') void history();
  setInterval(() => { if (document.visibilityState === 'visible') void refresh(); }, 15000);
})();
`;

export const CONSOLE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 0 16px 24px; color: #1c2833; background: #fbfcfc; }
header { display: flex; align-items: center; gap: 16px; border-bottom: 2px solid #c0392b; padding: 8px 0; }
h1 { font-size: 20px; margin: 0; color: #c0392b; }
h2 { font-size: 16px; margin: 20px 0 8px; }
.instance { color: #566573; flex: 1; }
.status { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 12px; }
.status div { padding: 4px 10px; border-radius: 4px; background: #eaeded; }
.ok { color: #196f3d; } .bad { color: #b03a2e; font-weight: 600; }
.status .ok { background: #d5f5e3; } .status .bad { background: #fadbd8; }
#message { min-height: 1.4em; margin: 6px 0 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #d5d8dc; vertical-align: top; }
td.n { text-align: right; }
.empty { color: #808b96; }
figure { margin: 0 0 12px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg { width: 100%; height: auto; font-size: 11px; fill: #1c2833; }
svg .axis { stroke: #808b96; }
.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 12px; margin: 4px 0; }
.legend svg.swatch { width: 10px; height: 10px; margin-right: 4px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
form.add { display: flex; gap: 6px; margin-top: 8px; flex-wrap: wrap; }
td.actions { white-space: nowrap; }
table.decided { margin-top: 8px; color: #566573; }
button { cursor: pointer; }
footer { margin-top: 20px; color: #808b96; font-size: 12px; }
h3 { font-size: 14px; margin: 12px 0 6px; }
.totals { margin: 4px 0 8px; } .totals b { font-weight: 600; }
.enforced { padding: 4px 10px; border-left: 3px solid #c0392b; background: #fdedec; }
figure.top table td:first-child { word-break: break-all; }
table.matches td { font-size: 13px; word-break: break-all; }
`;

/** A red shield, so that browsers asking for /favicon.ico get something (and the console log stays clean). */
export const FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M8 1 2 3v5c0 3.5 2.6 6.2 6 7 3.4-.8 6-3.5 6-7V3z" fill="#c0392b"/></svg>';
