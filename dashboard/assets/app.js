// evstream live view. No build step, no dependency: it reads the daemon's
// state from /ui/api/stream (server-sent events) and acts through /mi, the
// MI itself, so the page can do nothing the MI cannot. Its paths are
// relative to the page's (/ui): a proxy may serve it under a prefix.
'use strict';

(function () {
  const HISTORY = 300;   // points kept per destination (one a second)
  const TAIL_MAX = 500;  // rows kept in the tail
  const PLOTS_MAX = 12;  // destinations plotted

  const $ = (id) => document.getElementById(id);
  const state = { last: null, history: new Map(), paused: false, tailRows: 0, missed: 0, held: [] };
  let rpcID = 0;

  // el builds an element: el('td', {class: 'num'}, 'text', child...).
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids) {
      if (k === undefined || k === null) continue;
      e.append(k instanceof Node ? k : String(k));
    }
    return e;
  }

  const fmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
  const num = (v) => (v === undefined || v === null ? '–' : fmt.format(v));
  const ms = (v) => (v === undefined || v === null || v < 0 ? '–' : v < 10 ? v.toFixed(2) : fmt.format(v));

  function duration(s) {
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    if (d) return d + 'd ' + h + 'h';
    if (h) return m ? h + 'h ' + m + 'm' : h + 'h';
    if (m) return s % 60 ? m + 'm ' + (s % 60) + 's' : m + 'm';
    return s + 's';
  }

  function ago(iso) {
    if (!iso) return '';
    const s = (Date.now() - Date.parse(iso)) / 1000;
    return s < 1 ? 'just now' : duration(s) + ' ago';
  }

  function stateBadge(st, next) {
    if (!st) return el('span', { class: 'badge badge-none' }, '–');
    const label = { connected: 'connected', connecting: 'connecting', backoff: 'backing off', idle: 'idle' }[st] || st;
    const b = el('span', { class: 'badge badge-' + st, 'data-state': st }, label);
    if (st !== 'backoff') return b;
    const when = next ? 'next attempt in ' + (next < 1 ? next.toFixed(1) : Math.ceil(next)) + 's' : 'next attempt with the next event';
    return el('span', {}, b, el('br'), el('span', { class: 'muted small' }, when));
  }

  function setStatus(msg, bad) {
    const s = $('status');
    s.textContent = msg;
    s.className = 'status' + (bad ? ' status-bad' : ' status-ok');
  }

  // mi calls an MI command and returns its result, or throws its error.
  async function mi(method, params) {
    const res = await fetch('mi', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcID, method, params }),
    });
    let body;
    try { body = await res.json(); } catch (e) { throw new Error('HTTP ' + res.status); }
    if (body.error) {
      const e = body.error;
      throw new Error(e.code + ' ' + e.message + (e.data ? ': ' + (typeof e.data === 'string' ? e.data : JSON.stringify(e.data)) : ''));
    }
    return body.result;
  }

  async function act(what, method, params) {
    try {
      const r = await mi(method, params);
      setStatus(what + ': ' + (typeof r === 'string' ? r : JSON.stringify(r)), false);
    } catch (e) {
      setStatus(what + ' failed: ' + e.message, true);
    }
  }

  // showDeadLetters lists the oldest dead letters of a subscriber
  // (dead_letters_list) under the events.
  async function showDeadLetters(ev, socket) {
    const box = $('dead');
    try {
      const r = await mi('dead_letters_list', { event: ev, socket: socket, limit: 50 });
      const rows = (r.DeadLetters || []).map((d) => el('tr', {},
        el('td', { class: 'num' }, d.id),
        el('td', { class: 'mono' }, new Date(d.raised).toLocaleString()),
        el('td', { class: 'num' }, d.attempts),
        el('td', { class: 'err' }, d.error),
        el('td', { class: 'mono details' }, JSON.stringify(d.params))));
      $('dead-title').textContent = 'Dead letters of ' + socket + ' for ' + ev + ' (the oldest ' + rows.length + ')';
      replaceRows($('dead-table').tBodies[0], rows);
      labelCells($('dead-table'));
      box.hidden = false;
      box.scrollIntoView({ block: 'nearest' });
      $('dead-close').focus();
    } catch (e) {
      setStatus('Dead letters: ' + e.message, true);
    }
  }

  // confirmThen asks before a destructive action.
  function confirmThen(text, fn) {
    const d = $('confirm');
    $('confirm-text').textContent = text;
    d.returnValue = '';
    d.onclose = () => { if (d.returnValue === 'ok') fn(); };
    d.showModal();
  }

  // ---- rendering ----

  function renderTotals(s) {
    const t = s.totals;
    $('version').textContent = s.version ? 'v' + s.version : '';
    $('uptime').textContent = 'up ' + duration(s.uptime);
    $('t-events').textContent = num(t.events);
    $('t-subscriptions').textContent = num(t.subscriptions);
    $('t-raised').textContent = num(t.raised_rate);
    $('t-delivered').textContent = num(t.delivered_rate);
    $('t-failed').textContent = num(t.failed_rate);
    $('t-pending').textContent = num(t.pending);
    $('t-dead').textContent = num(t.dead_letters);
    $('t-failed').classList.toggle('bad', t.failed_rate > 0);
    $('t-dead').classList.toggle('bad', t.dead_letters > 0);
  }

  // errorCell shows an error's start (all of it on hover or focus: title)
  // and how long ago it happened.
  function errorCell(msg, at) {
    const short = msg.length > 120 ? msg.slice(0, 119) + '…' : msg;
    return el('td', { class: 'err', title: msg !== short ? msg : null }, short,
      at ? el('span', { class: 'muted' }, ' (' + ago(at) + ')') : null);
  }

  function replaceRows(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  // labelCells gives every cell its column's name (data-label): on a
  // narrow screen the rows are shown as cards, each cell with its name.
  function labelCells(table) {
    const names = [...table.tHead.rows[0].cells].map((th) => th.textContent);
    for (const tr of table.tBodies[0].rows) {
      [...tr.cells].forEach((td, i) => { if (!td.dataset.label) td.dataset.label = names[i] || ''; });
    }
  }

  function renderDests(s) {
    const rows = s.destinations.map((d) => el('tr', { 'data-socket': d.socket },
      el('td', {}, el('span', { class: 'mono sock' }, d.socket), el('br'), el('span', { class: 'muted small' }, d.events.join(', '))),
      el('td', { class: 'nowrap' }, d.delivery),
      el('td', { class: 'state' }, stateBadge(d.state, d.next_attempt)),
      el('td', { class: 'num' }, num(d.queued)),
      el('td', { class: 'num' }, num(d.in_flight)),
      el('td', { class: 'num' }, num(d.pending)),
      el('td', { class: 'num' + (d.dead_letters ? ' bad' : '') }, num(d.dead_letters)),
      el('td', { class: 'num' }, num(d.delivered_rate)),
      el('td', { class: 'num' + (d.failed_rate ? ' bad' : '') }, num(d.failed_rate)),
      el('td', { class: 'num' }, ms(d.p50_ms)),
      el('td', { class: 'num' }, ms(d.p99_ms)),
      errorCell(d.connect_error || d.last_error || '', d.last_error_at),
    ));
    replaceRows($('dests').tBodies[0], rows);
    labelCells($('dests'));
    $('dests-empty').hidden = rows.length > 0;
  }

  function subscriberActions(ev, sub) {
    const cell = el('td', { class: 'buttons' });
    cell.append(el('button', {
      type: 'button', class: 'danger', 'aria-label': 'Unsubscribe ' + sub.socket + ' from ' + ev,
      onclick: () => confirmThen('Unsubscribe ' + sub.socket + ' from ' + ev + '?' +
        (sub.delivery === 'at-least-once' ? ' Its pending events become dead letters.' : ''),
      () => act('Unsubscribe', 'event_unsubscribe', { event: ev, socket: sub.socket })),
    }, 'Unsubscribe'));
    if (sub.dead_letters) {
      cell.append(el('button', {
        type: 'button', 'data-action': 'show', 'aria-label': 'Show the dead letters of ' + sub.socket,
        onclick: () => showDeadLetters(ev, sub.socket),
      }, 'Show'));
      cell.append(el('button', {
        type: 'button', 'data-action': 'replay', 'aria-label': 'Replay the dead letters of ' + sub.socket,
        onclick: () => act('Replay', 'dead_letters_replay', { event: ev, socket: sub.socket }),
      }, 'Replay ' + sub.dead_letters));
      cell.append(el('button', {
        type: 'button', class: 'danger', 'data-action': 'purge', 'aria-label': 'Purge the dead letters of ' + sub.socket,
        onclick: () => confirmThen('Delete the ' + sub.dead_letters + ' dead letters of ' + sub.socket + ' for ' + ev + '? They cannot be replayed afterwards.',
          () => act('Purge', 'dead_letters_purge', { event: ev, socket: sub.socket })),
      }, 'Purge'));
    }
    return cell;
  }

  // Events and their subscribers are updated in place, keyed by name and
  // socket: the buttons a keyboard user has focused survive the updates.
  const eventNodes = new Map(); // name → {article, info, table, tbody, none, rows: Map(socket → row)}

  function makeEvent(name) {
    const info = el('span', { class: 'muted' });
    const tbody = el('tbody');
    const table = el('div', { class: 'scroll' }, el('table', {},
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Socket'), el('th', { scope: 'col' }, 'Delivery'),
        el('th', { scope: 'col' }, 'Expire'), el('th', { scope: 'col', class: 'num' }, 'Pending'),
        el('th', { scope: 'col', class: 'num' }, 'Dead letters'), el('th', { scope: 'col' }, 'Actions'))),
      tbody));
    const none = el('p', { class: 'muted' }, 'No subscribers.');
    table.firstChild.classList.add('stack');
    const article = el('article', { class: 'event', 'data-event': name },
      el('h3', {}, el('span', { class: 'mono' }, name), info), table, none);
    return { article, info, table, tbody, none, rows: new Map() };
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  // place puts node at the position after prev in parent, moving it only
  // when it is elsewhere.
  function place(parent, node, prev) {
    const want = prev ? prev.nextSibling : parent.firstChild;
    if (node !== want) parent.insertBefore(node, want);
    return node;
  }

  function updateSubscribers(n, ev) {
    const seen = new Set();
    let prev = null;
    for (const sub of ev.subscribers) {
      seen.add(sub.socket);
      let r = n.rows.get(sub.socket);
      if (!r) {
        const cells = [0, 1, 2, 3, 4].map((i) => el('td', { class: i === 0 ? 'mono sock' : i >= 3 ? 'num' : '' }));
        const actions = el('td', { class: 'buttons' });
        r = { tr: el('tr', { 'data-socket': sub.socket }, ...cells, actions), cells, actions, key: null };
        setText(cells[0], sub.socket);
        n.rows.set(sub.socket, r);
      }
      setText(r.cells[1], sub.delivery + (sub.durable ? ' · durable' : ''));
      setText(r.cells[2], sub.expire ? duration(sub.expire) + ' (' + duration(sub.ttl) + ' left)' : 'never');
      setText(r.cells[3], sub.pending === undefined ? '–' : num(sub.pending));
      setText(r.cells[4], sub.dead_letters === undefined ? '–' : num(sub.dead_letters));
      r.cells[4].classList.toggle('bad', !!sub.dead_letters);
      const key = sub.delivery + '|' + (sub.dead_letters || 0);
      if (key !== r.key) {
        r.key = key;
        const actions = subscriberActions(ev.name, sub);
        r.actions.replaceWith(actions);
        r.actions = actions;
      }
      prev = place(n.tbody, r.tr, prev);
    }
    labelCells(n.table.firstChild);
    for (const [socket, r] of n.rows) {
      if (!seen.has(socket)) { r.tr.remove(); n.rows.delete(socket); }
    }
    n.table.hidden = ev.subscribers.length === 0;
    n.none.hidden = ev.subscribers.length > 0;
  }

  function renderEvents(s) {
    const box = $('events');
    const seen = new Set();
    let prev = null;
    for (const ev of s.events) {
      seen.add(ev.name);
      let n = eventNodes.get(ev.name);
      if (!n) { n = makeEvent(ev.name); eventNodes.set(ev.name, n); }
      setText(n.info, ' · id ' + ev.id + ' · raised ' + num(ev.raised) + ' · ' + num(ev.raised_rate) + '/s');
      updateSubscribers(n, ev);
      prev = place(box, n.article, prev);
    }
    for (const [name, n] of eventNodes) {
      if (!seen.has(name)) { n.article.remove(); eventNodes.delete(name); }
    }
    $('events-truncated').hidden = !s.truncated;
    $('events-empty').hidden = s.events.length > 0;
  }

  function renderConns(s) {
    const rows = s.connections.map((c) => el('tr', {},
      el('td', { class: 'mono sock' }, c.address),
      el('td', { class: 'nowrap' }, c.delivery),
      el('td', { class: 'state' }, stateBadge(c.state, c.next_attempt)),
      el('td', { class: 'num' }, num(c.subscriptions)),
      el('td', { class: 'num' }, num(c.queued)),
      el('td', { class: 'num' }, num(c.queued_bytes)),
      el('td', { class: 'num' }, num(c.in_flight)),
      el('td', { class: 'num' }, num(c.delivered)),
      el('td', { class: 'num' }, num(c.failed)),
      errorCell(c.last_error || ''),
    ));
    replaceRows($('conns').tBodies[0], rows);
    labelCells($('conns'));
    $('conns-empty').hidden = rows.length > 0;
  }

  function renderStats(s) {
    replaceRows($('stats').tBodies[0], s.statistics.map((x) =>
      el('tr', {}, el('td', { class: 'mono' }, x.name), el('td', { class: 'num' }, num(x.value)))));
  }

  // ---- plots (SVG, drawn by hand) ----

  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }

  // span is the seconds the x axis shows: the history kept, at least a
  // minute, at most HISTORY; the newest point is at the right.
  function line(values, w, h, top, span, cls) {
    const n = values.length;
    if (n < 2) return null;
    const pts = values.map((v, i) => {
      const x = (w * (span - n + i)) / (span - 1);
      const y = h - (Math.max(v, 0) / top) * (h - 4) - 2;
      return x.toFixed(1) + ',' + y.toFixed(1);
    });
    return svg('polyline', { points: pts.join(' '), class: cls, fill: 'none' });
  }

  function chart(title, series, unit) {
    const w = 300, h = 70;
    const span = Math.min(HISTORY, Math.max(60, ...series.map((s) => s.values.length)));
    const top = Math.max(1, ...series.flatMap((s) => s.values.filter((v) => v >= 0)));
    const g = svg('svg', { viewBox: '0 0 ' + w + ' ' + h, class: 'chart', role: 'img', 'aria-label': title + ', peak ' + fmt.format(top) + unit });
    g.append(svg('line', { x1: 0, y1: h - 1, x2: w, y2: h - 1, class: 'axis' }));
    for (const s of series) {
      const l = line(s.values, w, h, top, span, s.cls);
      if (l) g.append(l);
    }
    return el('figure', {}, g, el('figcaption', { class: 'muted' }, title + ' over the last ' + duration(span) + ' · peak ' + fmt.format(top) + unit));
  }

  function renderPlots() {
    const cards = [];
    for (const [socket, hist] of state.history) {
      if (cards.length >= PLOTS_MAX) break;
      cards.push(el('div', { class: 'plot', 'data-socket': socket },
        el('h3', { class: 'mono' }, socket),
        chart('events/s', [{ values: hist.delivered, cls: 'ok' }, { values: hist.failed, cls: 'fail' }], '/s'),
        chart('p99 latency', [{ values: hist.p99, cls: 'lat' }], ' ms')));
    }
    $('plots').replaceChildren(...(cards.length ? cards : [el('p', { class: 'muted' }, 'Nothing delivered yet.')]));
  }

  function track(s) {
    const seen = new Set();
    for (const d of s.destinations) {
      seen.add(d.socket);
      let h = state.history.get(d.socket);
      if (d.history) {
        h = { delivered: d.history.delivered.slice(), failed: d.history.failed.slice(), p99: d.history.p99_ms.slice() };
        state.history.set(d.socket, h);
        continue;
      }
      if (!h) { h = { delivered: [], failed: [], p99: [] }; state.history.set(d.socket, h); }
      h.delivered.push(d.delivered_rate);
      h.failed.push(d.failed_rate);
      h.p99.push(d.p99_ms === undefined ? -1 : d.p99_ms);
      for (const k of ['delivered', 'failed', 'p99']) if (h[k].length > HISTORY) h[k].splice(0, h[k].length - HISTORY);
    }
    for (const k of state.history.keys()) if (!seen.has(k)) state.history.delete(k);
  }

  function render(s) {
    state.last = s;
    track(s);
    renderTotals(s);
    renderDests(s);
    renderEvents(s);
    renderConns(s);
    renderStats(s);
    renderPlots();
    tailInfo();
  }

  // ---- tail ----

  function tailMatches(e) {
    const fe = $('tail-event').value.trim().toLowerCase();
    const fs = $('tail-socket').value.trim().toLowerCase();
    return (!fe || (e.event || '').toLowerCase().includes(fe)) && (!fs || (e.socket || '').toLowerCase().includes(fs));
  }

  function tailRow(e) {
    let details = '';
    if (e.kind === 'raised') details = 'to ' + e.subscribers + ' · ' + e.params + (e.params_truncated ? ' (cut)' : '');
    else if (e.kind === 'delivered') details = (e.latency_ms !== undefined ? ms(e.latency_ms) + ' ms' : '');
    else if (e.kind === 'failed') details = e.error + (e.latency_ms !== undefined ? ' · ' + ms(e.latency_ms) + ' ms' : '') + (e.retry ? ' · will retry' : '');
    else details = e.expire ? 'expire ' + duration(e.expire) : '';
    const t = new Date(e.time);
    return el('tr', { class: 'k-' + e.kind, 'data-kind': e.kind, 'data-event': e.event, 'data-socket': e.socket || '' },
      el('td', { class: 'mono' }, t.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(t.getMilliseconds()).padStart(3, '0')),
      el('td', {}, e.kind),
      el('td', { class: 'mono' }, e.event),
      el('td', { class: 'mono' }, e.socket || ''),
      el('td', { class: 'mono details' }, details));
  }

  function addTail(entries) {
    const tbody = $('tail').tBodies[0];
    const rows = entries.filter(tailMatches).map(tailRow).reverse();
    if (!rows.length) return;
    tbody.prepend(...rows);
    while (tbody.rows.length > TAIL_MAX) tbody.deleteRow(-1);
    labelCells($('tail'));
  }

  function tailInfo() {
    const s = state.last;
    const parts = [];
    if (state.paused) parts.push('paused: ' + state.held.length + ' waiting');
    if (s && s.tail.dropped) parts.push(num(s.tail.dropped) + ' not shown since start (the tail takes at most ' + s.tail.rate + ' a second)');
    if (state.missed) parts.push(num(state.missed) + ' missed by this page');
    $('tail-info').textContent = parts.join(' · ');
  }

  function onTail(t) {
    state.missed += t.missed;
    if (state.paused) {
      state.held.push(...t.entries);
      if (state.held.length > TAIL_MAX) {
        state.missed += state.held.length - TAIL_MAX;
        state.held.splice(0, state.held.length - TAIL_MAX);
      }
    } else {
      addTail(t.entries);
    }
    tailInfo();
  }

  // ---- the stream ----

  function connect() {
    const live = $('live');
    const es = new EventSource('ui/api/stream');
    es.addEventListener('open', () => { live.textContent = 'live'; live.className = 'badge badge-connected'; });
    es.addEventListener('error', () => {
      live.textContent = 'reconnecting…';
      live.className = 'badge badge-backoff';
    });
    es.addEventListener('state', (m) => render(JSON.parse(m.data)));
    es.addEventListener('tail', (m) => onTail(JSON.parse(m.data)));
  }

  // ---- forms and controls ----

  function wire() {
    $('f-subscribe').addEventListener('submit', (e) => {
      e.preventDefault();
      const f = new FormData(e.target);
      const p = { event: f.get('event').trim(), socket: f.get('socket').trim() };
      if (f.get('expire') !== '') p.expire = Number(f.get('expire'));
      if (f.get('delivery')) { p.expire = p.expire ?? 3600; p.delivery = f.get('delivery'); }
      act('Subscribe', 'event_subscribe', p);
    });
    $('f-raise').addEventListener('submit', (e) => {
      e.preventDefault();
      const f = new FormData(e.target);
      const p = { event: f.get('event').trim() };
      const text = f.get('params').trim();
      if (text) {
        try { p.params = JSON.parse(text); } catch (err) { setStatus('Params are not JSON: ' + err.message, true); return; }
      }
      act('Raise', 'raise_event', p);
    });
    $('tail-pause').addEventListener('click', (e) => {
      state.paused = !state.paused;
      e.target.textContent = state.paused ? 'Resume' : 'Pause';
      e.target.setAttribute('aria-pressed', String(state.paused));
      if (!state.paused) { addTail(state.held); state.held = []; }
      tailInfo();
    });
    $('dead-close').addEventListener('click', () => { $('dead').hidden = true; });
    $('tail-clear').addEventListener('click', () => { $('tail').tBodies[0].replaceChildren(); state.missed = 0; tailInfo(); });
  }

  wire();
  connect();
})();
