// explorer.js: the Carbon Ledger explorer page. Keeps an API key in sessionStorage, looks credits up, lists and
// filters blocks, shows a credit with its fields, lineage and timeline, and sends register / sell / retire /
// cancel commands (with an Idempotency-Key), showing a problem's field errors beside their inputs. Builds every
// element with createElement/textContent: nothing the server says is ever parsed as HTML.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const KEY_STORAGE = 'carbon-ledger.api-key';
  const HISTORY_PAGE = 50;
  const CHILDREN_PAGE = 10;
  let apiKey = sessionStorage.getItem(KEY_STORAGE) || '';
  let current = null;        // the record shown in the detail pane
  let listNext = null;       // the next page of the block list (a path), or null
  let childrenNext = null;   // the next page of the shown record's children (a path), or null
  let historyNext = null;    // history_after for the shown record's next history page, or null
  let pendingResult = null;  // a command's outcome, shown once its credit has been opened

  // --- Talking to the API ---

  // One request to serve (same origin). Resolves to {status, ok, json, headers}; rejects on no answer.
  async function api(method, path, { body, headers = {} } = {}) {
    const h = { Accept: 'application/json', ...headers };
    if (apiKey) h.Authorization = `Bearer ${apiKey}`;
    if (body !== undefined) h['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', cache: 'no-store', signal: AbortSignal.timeout(15000),
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { json = null; }
    return { status: res.status, ok: res.ok, json, headers: res.headers };
  }

  function problemText(r) {
    const p = r.json || {};
    return p.detail || p.title || `HTTP ${r.status}`;
  }

  // The next page of a list answer: its Link: <...>; rel="next" header, else `path` with the body's cursor.
  function nextPage(r, path) {
    const m = /<([^>]*)>\s*;\s*rel="?next"?/.exec(r.headers.get('Link') || '');
    if (m && m[1].startsWith('/')) return m[1];
    if (!r.json.next) return null;
    const url = new URL(path, location.origin);
    url.searchParams.set('cursor', r.json.next);
    return url.pathname + url.search;
  }

  function randomKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function banner(text) {
    const b = $('banner');
    b.textContent = text || '';
    b.hidden = !text;
  }

  // --- Small DOM helpers ---

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null) continue;
      if (k === 'className') node.className = v;
      else if (k === 'text') node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  function creditLink(id, label) {
    return el('a', { href: `#/records/${encodeURIComponent(id)}`, 'data-testid': 'credit-link', 'data-id': id,
      className: 'mono', text: label || id });
  }

  function units(r) { return `${r.quantity} (units ${r.block_start}–${r.block_end})`; }

  // --- The key ---

  function showKeyStatus(text) { $('key-status').textContent = text; }

  async function useKey(key) {
    apiKey = key.trim();
    if (!apiKey) return forgetKey();
    sessionStorage.setItem(KEY_STORAGE, apiKey);
    $('api-key').value = '';
    const id = /^clk_([0-9a-f]+)_/.exec(apiKey);
    showKeyStatus(`Key ${id ? id[1] : '(unknown form)'}: checking…`);
    try {
      // No "who am I" endpoint exists: one cheap read tells at least whether the key is accepted.
      const r = await api('GET', '/records?limit=1');
      showKeyStatus(r.status === 401 ? 'Key refused: ' + problemText(r) : `Key ${id ? id[1] : ''} in use`);
    } catch (e) {
      showKeyStatus('Key kept; the server did not answer');
    }
  }

  function forgetKey() {
    apiKey = '';
    sessionStorage.removeItem(KEY_STORAGE);
    $('api-key').value = '';
    showKeyStatus('No key');
  }

  // --- The block list ---

  function renderRecords(records, append) {
    const box = $('records');
    let tbody = box.querySelector('tbody');
    if (!append || !tbody) {
      box.replaceChildren();
      if (records.length === 0) { box.append(el('p', { className: 'muted', text: 'No blocks match.' })); return; }
      const head = el('tr', {}, ...['Block', 'Serial number', 'Units', 'Status', 'Holder']
        .map((t) => el('th', { scope: 'col', text: t })));
      tbody = el('tbody');
      box.append(el('table', {}, el('thead', {}, head), tbody));
    }
    for (const r of records) {
      tbody.append(el('tr', { 'data-testid': 'record-row', 'data-id': r.id, 'data-holder': r.holder },
        el('td', {}, creditLink(r.id, r.id.slice(0, 8) + '…')),
        el('td', { title: r.registry, text: r.serial_number }),
        el('td', { text: `${r.quantity} (${r.block_start}–${r.block_end})` }),
        el('td', {}, el('span', { className: `status status-${r.status}`, text: r.status })),
        el('td', { text: r.holder })));
    }
  }

  async function listRecords(path, append, form) {
    const problem = form && form.querySelector('[data-problem]');
    if (problem) problem.hidden = true;
    try {
      const r = await api('GET', path);
      if (!r.ok) {
        if (problem) { problem.textContent = problemText(r); problem.hidden = false; } else banner(problemText(r));
        return null;
      }
      renderRecords(r.json.records, append);
      listNext = nextPage(r, path);
      $('records-next').hidden = !listNext;
      return r.json.records;
    } catch (e) {
      banner(`The server did not answer: ${e.message}`);
      return null;
    }
  }

  function queryFrom(form, names) {
    const q = new URLSearchParams();
    for (const n of names) {
      const v = form.elements[n].value.trim();
      if (v) q.set(n, v);
    }
    return q;
  }

  // --- Looking a credit up ---

  async function lookup(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const id = form.elements.id.value.trim();
    if (id) return go(id);
    const q = queryFrom(form, ['registry', 'serial_number', 'unit']);
    const problem = form.querySelector('[data-problem]');
    if (!q.has('registry') || !(q.has('serial_number') || q.has('unit'))) {
      problem.textContent = 'Give a credit id, or a registry with a serial number or a unit number.';
      problem.hidden = false;
      return;
    }
    // A serial's blocks are the issued one and those carved from it: open the issued one, list them all.
    const records = await listRecords(`/records?${q}`, false, form);
    const issued = (records || []).filter((r) => !r.parent);
    if (records && records.length === 1) go(records[0].id);
    else if (q.has('serial_number') && issued.length === 1) go(issued[0].id);
  }

  // --- One credit ---

  function go(id) {
    const hash = `#/records/${encodeURIComponent(id)}`;
    if (location.hash === hash) openRecord(id); else location.hash = hash;
  }

  // Reads a record; with minVersion the server waits until its read model has that version (504 when it does
  // not within its limit: then once more). A server that does not know min_version answers 404 or an older
  // version while the projector catches up: then a few more tries, 200 ms apart.
  async function fetchRecord(id, { minVersion, after } = {}) {
    const q = new URLSearchParams({ history_limit: String(HISTORY_PAGE) });
    if (minVersion) q.set('min_version', String(minVersion));
    if (after) q.set('history_after', String(after));
    const path = `/records/${encodeURIComponent(id)}?${q}`;
    let r = await api('GET', path);
    if (r.status === 504 && minVersion) r = await api('GET', path);
    const behind = () => minVersion && (r.status === 404 || (r.ok && r.json.version < minVersion));
    for (let i = 0; i < 10 && behind(); i += 1) {
      await new Promise((done) => setTimeout(done, 200));
      r = await api('GET', path);
    }
    return r;
  }

  async function openRecord(id, minVersion) {
    banner('');
    let r;
    try { r = await fetchRecord(id, { minVersion }); } catch (e) { banner(`The server did not answer: ${e.message}`); return; }
    if (!r.ok) { banner(`Credit ${id}: ${problemText(r)}`); return; }
    current = r.json;
    renderDetail(current);
    const result = $('command-result');
    result.hidden = !pendingResult;
    result.textContent = pendingResult || '';
    pendingResult = null;
    loadChildren(`/records?parent=${encodeURIComponent(current.id)}&limit=${CHILDREN_PAGE}`, false);
  }

  function fieldValue(key, value) {
    if (value === null || value === undefined) return document.createTextNode('—');
    if (key === 'status') return el('span', { className: `status status-${value}`, text: value });
    if (key === 'parent' || key === 'id') return key === 'id' ? el('span', { className: 'mono', text: value }) : creditLink(value);
    if (typeof value === 'object') {
      const parts = Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}`);
      return document.createTextNode(parts.length ? parts.join('; ') : '(no details)');
    }
    return document.createTextNode(String(value));
  }

  function renderDetail(rec) {
    $('detail-empty').hidden = true;
    $('detail-body').hidden = false;
    $('detail-title').textContent = `${rec.project_name}: ${rec.serial_number}`;
    const dl = $('record-fields');
    dl.replaceChildren();
    for (const [k, v] of Object.entries(rec)) {
      if (k === 'history' || k === 'history_next') continue;
      dl.append(el('div', { className: `pair pair-${k}` }, el('dt', { text: k.replace(/_/g, ' ') }),
        el('dd', { 'data-field': k }, fieldValue(k, v))));
    }
    $('lineage-parent').replaceChildren(rec.parent ? creditLink(rec.parent) : document.createTextNode('— (an issued block)'));
    $('timeline').replaceChildren();
    renderHistory(rec.history || []);
    historyNext = rec.history_next;
    $('history-more').hidden = historyNext === null || historyNext === undefined;
    const open = rec.status === 'CREATED' || rec.status === 'SOLD';
    for (const f of ['sell-form', 'retire-form', 'cancel-form']) {
      $(f).hidden = !open;
      clearProblem($(f));
    }
    $('actions-closed').hidden = open;
    $('actions-closed').textContent = open ? '' : `A ${rec.status} block takes no more commands.`;
  }

  // Who did it, and what, as the event's data tells (history entries carry no actor of their own).
  function describe(e) {
    const d = e.data || {};
    switch (e.type) {
      case 'CREATED': return [d.issuer ? `issued by ${d.issuer}` : 'issued',
        `${d.quantity} units (${d.block_start}–${d.block_end}) of ${d.project_name}, vintage ${d.vintage}`];
      case 'SOLD': return [`${d.seller || '?'} → ${d.buyer}`, `sold to ${d.buyer}`];
      case 'SPLIT': return ['', `units ${d.block_start}–${d.block_end} (${d.quantity}) carved off into `, d.child];
      case 'CARVED': return [d.holder ? `held by ${d.holder}` : '',
        `took units ${d.block_start}–${d.block_end} (${d.quantity}, ${d.status}) from `, d.parent];
      case 'RETIRED': return ['', ['beneficiary', 'reason', 'category', 'details'].filter((k) => d[k])
        .map((k) => `${k}: ${String(d[k]).replace(/_/g, ' ')}`).join('; ') || 'retired'];
      case 'CANCELLED': return ['', d.reason ? `reason: ${d.reason}` : 'cancelled'];
      default: return ['', JSON.stringify(d)];
    }
  }

  function renderHistory(entries) {
    const ol = $('timeline');
    for (const e of entries) {
      const [who, what, link] = describe(e);
      const when = el('time', { datetime: e.recorded_at, text: new Date(e.recorded_at).toLocaleString() });
      const detail = el('p', { className: 'what', text: what });
      if (link) detail.append(creditLink(link));
      const raw = el('dl', { className: 'data' });
      for (const [k, v] of Object.entries(e.data || {})) raw.append(el('dt', { text: k }), el('dd', { text: String(v) }));
      ol.append(el('li', { className: `event event-${e.type}`, 'data-testid': 'event', 'data-type': e.type,
        'data-version': String(e.version) },
      el('p', { className: 'head' }, el('span', { className: `status status-${e.type}`, text: e.type }),
        ` v${e.version} · `, when, who ? ` · ${who}` : ''),
      detail, el('details', {}, el('summary', { text: 'event data' }), raw)));
    }
  }

  async function moreHistory() {
    if (!current || historyNext === null) return;
    try {
      const r = await fetchRecord(current.id, { after: historyNext });
      if (!r.ok) { banner(problemText(r)); return; }
      renderHistory(r.json.history || []);
      historyNext = r.json.history_next;
      $('history-more').hidden = historyNext === null || historyNext === undefined;
    } catch (e) { banner(`The server did not answer: ${e.message}`); }
  }

  async function loadChildren(path, append) {
    const ul = $('lineage-children');
    if (!append) ul.replaceChildren();
    try {
      const r = await api('GET', path);
      if (!r.ok) { ul.append(el('li', { text: problemText(r) })); return; }
      for (const c of r.json.records) {
        ul.append(el('li', { 'data-testid': 'child', 'data-id': c.id }, creditLink(c.id),
          ` ${units(c)} · ${c.status} · ${c.holder}`));
      }
      if (!append && r.json.records.length === 0) ul.append(el('li', { className: 'muted', text: 'none' }));
      childrenNext = nextPage(r, path);
      $('children-next').hidden = !childrenNext;
    } catch (e) { ul.append(el('li', { text: `The server did not answer: ${e.message}` })); }
  }

  // --- Commands ---

  function clearProblem(form) {
    const top = form.querySelector('[data-problem]');
    top.textContent = '';
    top.hidden = true;
    for (const s of form.querySelectorAll('[data-error-for]')) s.textContent = '';
    for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  }

  function showProblem(form, r) {
    const top = form.querySelector('[data-problem]');
    const extra = [];
    for (const { field, message } of (r.json && r.json.errors) || []) {
      const slot = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
      if (!slot) { extra.push(`${field} ${message}`); continue; }
      slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
      const input = form.elements[field];
      if (input) { input.setAttribute('aria-invalid', 'true'); input.setAttribute('aria-describedby', slot.id); }
    }
    top.textContent = [problemText(r), ...extra].join(' — ');
    top.hidden = false;
  }

  // The form's fields as a body: blanks left out, whole numbers as numbers (anything else is sent as typed,
  // for the server to name what is wrong with it).
  function bodyFrom(form, names, numbers) {
    const body = {};
    for (const n of names) {
      const v = form.elements[n].value.trim();
      if (!v) continue;
      body[n] = numbers.includes(n) && /^\d{1,15}$/.test(v) ? Number(v) : v;
    }
    return body;
  }

  // Sends a command. A retry of the same submission (same path and body after no answer, a 5xx, or 409/429
  // "try again") reuses its Idempotency-Key, so the ledger applies it at most once; anything else gets a new one.
  async function submitCommand(form, path, body, summarize) {
    clearProblem(form);
    $('command-result').hidden = true;
    const text = JSON.stringify(body);
    const last = form.pending;
    const key = last && last.path === path && last.text === text ? last.key : randomKey();
    form.pending = { path, text, key };
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const r = await api('POST', path, { body, headers: { 'Idempotency-Key': key } });
      const retryable = r.status >= 500 || r.status === 429 ||
        (r.status === 409 && r.json && /idempotency-key-in-use/.test(r.json.type || ''));
      if (!retryable) form.pending = null;
      if (!r.ok) { showProblem(form, r); return; }
      form.reset();
      pendingResult = summarize(r.json);
      await openRecord(r.json.id, r.json.version);
      if (location.hash !== `#/records/${r.json.id}`) history.replaceState(null, '', `#/records/${r.json.id}`);
    } catch (e) {
      showProblem(form, { status: 0, json: { detail: `No answer (${e.message}): submit again to retry safely.` } });
    } finally {
      button.disabled = false;
    }
  }

  function rest(r) {
    return r.remainder ? `; ${r.remainder.quantity} units (${r.remainder.block_start}–${r.remainder.block_end}) stay in ${r.remainder.id}` : '';
  }

  function onRegister(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const body = bodyFrom(form, ['registry', 'serial_number', 'project_name', 'vintage', 'quantity', 'block_start',
      'block_end'], ['vintage', 'quantity', 'block_start', 'block_end']);
    if (!('project_name' in body)) body.project_name = '';  // let the server say it is required
    submitCommand(form, '/register', body, (r) => `Registered ${r.id}: ${units(r)}, held by ${r.holder}.`);
  }

  function onSell(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const body = bodyFrom(form, ['buyer', 'quantity'], ['quantity']);
    submitCommand(form, `/records/${current.id}/sell`, body,
      (r) => `Sold ${units(r)} to ${r.holder}${r.remainder ? ` as block ${r.id}` : ''}${rest(r)}.`);
  }

  function onRetire(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const body = bodyFrom(form, ['quantity', 'beneficiary', 'reason', 'category', 'details'], ['quantity']);
    submitCommand(form, `/records/${current.id}/retire`, body,
      (r) => `Retired ${units(r)}${r.remainder ? ` as block ${r.id}` : ''}${rest(r)}.`);
  }

  function onCancel(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const body = bodyFrom(form, ['reason', 'quantity'], ['quantity']);
    submitCommand(form, `/records/${current.id}/cancel`, body,
      (r) => `Cancelled ${units(r)}${r.remainder ? ` as block ${r.id}` : ''}${rest(r)}.`);
  }

  // --- Wiring ---

  function route() {
    const m = /^#\/records\/([^/?#]+)$/.exec(location.hash);
    if (m) openRecord(decodeURIComponent(m[1]));
  }

  document.addEventListener('DOMContentLoaded', () => {
    showKeyStatus(apiKey ? 'Key in use (from this session)' : 'No key');
    $('key-form').addEventListener('submit', (e) => { e.preventDefault(); useKey($('api-key').value); });
    $('key-forget').addEventListener('click', forgetKey);
    $('lookup-form').addEventListener('submit', lookup);
    $('filter-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const q = queryFrom(e.currentTarget, ['holder', 'status', 'registry', 'vintage', 'parent', 'limit']);
      listRecords(`/records?${q}`, false, e.currentTarget);
    });
    $('records-next').addEventListener('click', () => listNext && listRecords(listNext, true));
    $('children-next').addEventListener('click', () => childrenNext && loadChildren(childrenNext, true));
    $('history-more').addEventListener('click', moreHistory);
    $('register-form').addEventListener('submit', onRegister);
    $('sell-form').addEventListener('submit', onSell);
    $('retire-form').addEventListener('submit', onRetire);
    $('cancel-form').addEventListener('submit', onCancel);
    // Each error slot gets an id so its input can point at it (aria-describedby).
    for (const s of document.querySelectorAll('[data-error-for]')) {
      s.id = `${s.closest('form').id}-error-${s.dataset.errorFor}`;
      s.setAttribute('aria-live', 'polite');
    }
    window.addEventListener('hashchange', route);
    route();
  });
})();
