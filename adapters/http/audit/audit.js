// The audit page: reads the order service's API and shows an order's events as a timeline.
// Every text that comes from the service is inserted with textContent, never as HTML: an event's
// reason or carrier is whatever a client sent, and must be shown, not run.
'use strict';

(function () {
  const TOKEN_KEY = 'order-audit.token';
  const PAGE_SIZE = 20;
  const MAX_EVENT_PAGES = 50;  // 50 000 events: past that, an order is not read at a glance

  const $ = (id) => document.getElementById(id);

  // ---- small DOM helpers: text only ----

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'class') node.className = value;
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // "2026-11-25T19:07:03.511820Z" → "2026-11-25 19:07:03 UTC", by text: the service's own UTC
  // time, never converted through the browser's clock or zone.
  function utc(text) {
    if (typeof text !== 'string') return '';
    const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})/.exec(text);
    return m ? `${m[1]} ${m[2]} UTC` : text;
  }

  function time(text) {
    return el('time', { datetime: text, title: text }, utc(text));
  }

  // Prices come as JSON numbers with at most two decimals (the service refuses more), so two
  // fixed decimals are their exact text; totals and amounts are decimal strings already.
  function money(value) {
    if (typeof value === 'number') return value.toFixed(2);
    return value === undefined || value === null ? '' : String(value);
  }

  // ---- the API ----

  class ApiError extends Error {
    constructor(kind, status, problem) {
      super(kind);
      this.kind = kind;  // unauthorized | not_found | bad_request | unavailable | offline | failed
      this.status = status;
      this.problem = problem;
    }
  }

  function token() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  }

  async function api(path) {
    const headers = { Accept: 'application/json' };
    const bearer = token();
    if (bearer) headers.Authorization = 'Bearer ' + bearer;
    let response;
    try {
      response = await fetch(path, { headers, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      throw new ApiError('offline', 0, null);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (response.ok && body) return body;
    const status = response.status;
    const kind = status === 401 ? 'unauthorized'
      : status === 404 ? 'not_found'
      : status === 400 ? 'bad_request'
      : status === 502 || status === 503 || status === 504 ? 'unavailable'
      : 'failed';
    throw new ApiError(kind, status, body && typeof body === 'object' ? body : null);
  }

  // ---- messages: every state says what happened in words ----

  function say(text, tone) {
    const box = $('message');
    clear(box);
    if (!text) {
      box.hidden = true;
      return;
    }
    box.className = 'message' + (tone ? ' ' + tone : '');
    box.dataset.tone = tone || 'info';
    if (Array.isArray(text)) {
      for (const line of text) box.append(el('p', {}, line));
    } else {
      box.append(el('p', {}, text));
    }
    box.hidden = false;
  }

  function detail(error) {
    const d = error.problem && typeof error.problem.detail === 'string' ? error.problem.detail : '';
    return d ? d.charAt(0).toUpperCase() + d.slice(1) + '.' : '';
  }

  function explain(error, notFoundText) {
    switch (error.kind) {
      case 'unauthorized':
        showAccess(true);
        return token()
          ? ['Not authorized: the service refused the token in use.',
             (detail(error) ? 'It said: ' + detail(error) + ' ' : '') +
             'Paste a valid bearer token under Access, then try again.']
          : ['Not authorized: this service asks for a bearer token.',
             'Paste a token under Access (it is kept for this tab only), then try again.'];
      case 'not_found':
        return [notFoundText, detail(error)].filter(Boolean);
      case 'bad_request':
        return ['The service did not accept the request.', detail(error)].filter(Boolean);
      case 'unavailable':
        return ['The service is unavailable right now' +
                (error.status ? ` (HTTP ${error.status})` : '') + '. Try again in a moment.',
                detail(error)].filter(Boolean);
      case 'offline':
        return ['The service cannot be reached: no answer came back.',
                'Check that it is running and that this computer is online, then try again.'];
      default:
        return [`The service answered with an error (HTTP ${error.status}).`, detail(error)]
          .filter(Boolean);
    }
  }

  function fail(error, notFoundText) {
    if (!(error instanceof ApiError)) {
      say(['Something went wrong in this page: ' + (error && error.message) + '.'], 'error');
      return;
    }
    say(explain(error, notFoundText), error.kind === 'not_found' ? 'warning' : 'error');
  }

  function showAccess(refused) {
    const state = $('access-state');
    if (refused) {
      state.textContent = token()
        ? 'The token in use was refused. Paste another one.'
        : 'This service asks for a bearer token. Paste one here.';
      state.className = 'hint attention';
    } else {
      state.textContent = token()
        ? 'A token is in use for this tab; it is sent as a bearer header with every request.'
        : 'No token in use. If the service asks for one, paste it here; it is kept for this ' +
          'tab only.';
      state.className = 'hint';
    }
  }

  // ---- the route: #order=17&version=3, #user=101 ----

  function parseId(text) {
    const t = String(text || '').trim();
    return /^[1-9][0-9]{0,17}$/.test(t) ? t : null;
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ''));
    return {
      order: parseId(params.get('order')),
      version: parseId(params.get('version')),
      user: parseId(params.get('user')),
    };
  }

  let current = { order: null, events: [], version: null };
  let listing = { user: null, next: null };
  let generation = 0;  // a newer navigation makes older answers stale
  let focusState = false;  // the next version shown takes the focus (it was picked, not linked)

  async function route() {
    const { order, version, user } = readHash();
    const mine = ++generation;
    if (order) {
      $('order-id').value = order;
      if (current.order !== order) {
        const loaded = await loadHistory(order, mine);
        if (!loaded) return;
      }
      const focus = focusState;
      focusState = false;
      if (version) await showVersion(order, version, mine, focus);
      else hideState();
      return;
    }
    if (user) {
      $('user-id').value = user;
      await listOrders(user, mine);
      return;
    }
    hideResults();
    say('Find an order by its id, or list a user\'s orders by user id.');
  }

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  function hideResults() {
    $('orders').hidden = true;
    $('audit').hidden = true;
    current = { order: null, events: [], version: null };
  }

  function hideState() {
    $('state').hidden = true;
    current.version = null;
    markSelected();
  }

  // ---- a user's orders, from the read model, by keyset pages ----

  async function listOrders(user, mine) {
    hideResults();
    say(`Loading the orders of user ${user}…`);
    listing = { user, next: null };
    clear($('orders-rows'));
    await loadOrdersPage(`/orders?user_id=${user}&limit=${PAGE_SIZE}`, user, mine, true);
  }

  async function loadOrdersPage(path, user, mine, first) {
    let page;
    try {
      page = await api(path);
    } catch (error) {
      if (mine !== generation) return;
      fail(error, `No orders found for user ${user}.`);
      return;
    }
    if (mine !== generation) return;
    const rows = $('orders-rows');
    for (const order of page.orders || []) {
      rows.append(el('tr', {},
        el('th', { scope: 'row' },
           el('a', { href: `#order=${order.order_id}` }, `Order ${order.order_id}`)),
        el('td', {}, el('span', { class: 'status status-' + order.status }, order.status)),
        el('td', { class: 'num' }, money(order.total_amount)),
        el('td', { class: 'num' }, (order.items || []).length),
        el('td', {}, time(order.created_at)),
        el('td', {}, time(order.updated_at))));
    }
    const count = rows.childElementCount;
    $('orders-title').textContent = `Orders of user ${user}`;
    const lag = page.projection_lag && page.projection_lag.events > 0
      ? ` The list is read from the read model, which is ${page.projection_lag.events} event(s) ` +
        'behind the log right now: the newest changes may not show yet.'
      : '';
    $('orders-note').textContent =
      `${count} order${count === 1 ? '' : 's'} shown${page.next ? ', more to come' : ''}.` + lag;
    listing.next = typeof page.next === 'string' && page.next.startsWith('/orders?')
      ? page.next : null;
    $('orders-more').hidden = !listing.next;
    if (count === 0) {
      $('orders').hidden = true;
      say([`User ${user} has no orders.`, lag.trim()].filter(Boolean), 'warning');
      return;
    }
    $('orders').hidden = false;
    say('');
    if (first) $('orders-title').focus();
  }

  // ---- an order's history ----

  async function loadHistory(order, mine) {
    hideResults();
    say(`Loading the history of order ${order}…`);
    const events = [];
    let path = `/orders/${order}/events?limit=1000`;
    try {
      for (let pages = 0; path && pages < MAX_EVENT_PAGES; ++pages) {
        const page = await api(path);
        events.push(...(page.events || []));
        path = typeof page.next === 'string' && page.next.startsWith('/orders/') ? page.next : null;
      }
    } catch (error) {
      if (mine !== generation) return false;
      fail(error, `There is no order ${order}.`);
      return false;
    }
    if (mine !== generation) return false;
    if (events.length === 0) {
      say(`Order ${order} has no events.`, 'warning');
      return false;
    }
    current = { order, events, version: null };
    renderTimeline();
    $('history-title').textContent = `History of order ${order}`;
    $('audit').hidden = false;
    $('state').hidden = true;
    say('');
    $('history-title').focus();
    return true;
  }

  function statusChange(data, type) {
    if (type === 'order.created') return ['new', data.status || 'pending'];
    if (data.oldstatus || data.newstatus) return [data.oldstatus || '?', data.newstatus || '?'];
    return null;
  }

  // The fields an event carries beyond the status it moves: its reason to exist.
  const KNOWN_DATA = new Set(['orderid', 'userid', 'status', 'oldstatus', 'newstatus',
                              'totalamount', 'items']);
  const DATA_LABELS = {
    payment_reference: 'Payment reference',
    amount: 'Amount',
    carrier: 'Carrier',
    tracking_number: 'Tracking number',
    reason: 'Reason',
  };
  const META_LABELS = [
    ['request_id', 'Request id'],
    ['correlation_id', 'Correlation id'],
    ['causation_id', 'Caused by'],
    ['idempotency_key', 'Idempotency key'],
    ['traceparent', 'Trace parent'],
    ['tracestate', 'Trace state'],
  ];

  function text(value) {
    if (value === null || value === undefined) return '';
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }

  function pair(label, value, options) {
    const o = options || {};
    return [el('dt', {}, label),
            el('dd', { class: o.cls, 'data-field': o.field },
               o.code ? el('code', {}, text(value)) : text(value))];
  }

  function entry(event) {
    const data = event.data && typeof event.data === 'object' ? event.data : {};
    const meta = event.metadata && typeof event.metadata === 'object' ? event.metadata : {};
    const change = statusChange(data, event.type);
    const kind = String(event.type || '').replace(/^order\./, '');

    const fields = [];
    fields.push(...pair('Actor', meta.actor || 'not recorded',
                        { field: 'actor', cls: meta.actor ? '' : 'none' }));
    if (event.type === 'order.created') {
      const items = Array.isArray(data.items) ? data.items : [];
      fields.push(...pair('Total', money(data.totalamount), { field: 'totalamount' }));
      fields.push(el('dt', {}, 'Items'),
                  el('dd', { 'data-field': 'items' },
                     el('ul', { class: 'items' }, items.map((item) =>
                       el('li', {}, `${text(item.quantity)} × product ${text(item.product_id)} ` +
                                    `at ${money(item.price)}`)))));
    }
    for (const [key, value] of Object.entries(data)) {
      if (KNOWN_DATA.has(key)) continue;
      const label = DATA_LABELS[key] || key;
      const shown = key === 'amount' ? money(value) : value;
      fields.push(...pair(label, key === 'reason' && value === '' ? 'none given' : shown,
                          { field: key, cls: key === 'reason' && value === '' ? 'none' : '' }));
    }
    for (const [key, label] of META_LABELS) {
      if (!meta[key]) continue;
      if (key === 'causation_id' && meta.causation_id === meta.request_id) continue;
      if (key === 'correlation_id' && meta.correlation_id === meta.request_id) {
        fields.push(...pair(label, 'same as the request id', { field: key, cls: 'none' }));
        continue;
      }
      fields.push(...pair(label, meta[key], { field: key, code: true }));
    }
    fields.push(...pair('Event',
                        `${text(event.event_id)} · log position ${text(event.global_position)}`,
                        { field: 'event', code: true }));

    const open = el('button', {
      type: 'button',
      class: 'entry-open',
      'data-version': event.version,
      'aria-controls': 'state',
    },
      el('span', { class: 'entry-version' }, `v${text(event.version)}`),
      el('span', { class: 'entry-type' }, text(event.type)),
      change
        ? el('span', { class: 'entry-change' },
             el('span', { class: 'status status-' + change[0] }, change[0]),
             el('span', { 'aria-hidden': 'true' }, ' → '),
             el('span', { class: 'visually-hidden' }, ' to '),
             el('span', { class: 'status status-' + change[1] }, change[1]))
        : null,
      time(event.recorded_at));

    return el('li', { class: 'entry entry-' + kind, 'data-version': event.version },
              open, el('dl', { class: 'entry-fields' }, fields));
  }

  function renderTimeline() {
    const list = $('timeline');
    clear(list);
    const events = current.events.slice();
    if ($('sort').value === 'newest') events.reverse();
    for (const event of events) list.append(entry(event));
    list.setAttribute('aria-label', `${events.length} event${events.length === 1 ? '' : 's'}, ` +
                      ($('sort').value === 'newest' ? 'newest first' : 'oldest first'));
    markSelected();
  }

  function markSelected() {
    for (const button of $('timeline').querySelectorAll('.entry-open')) {
      const selected = current.version !== null && button.dataset.version === current.version;
      if (selected) button.setAttribute('aria-current', 'true');
      else button.removeAttribute('aria-current');
      button.closest('.entry').classList.toggle('selected', selected);
    }
  }

  // ---- the order as of a version, beside the version before it ----

  const STATE_FIELDS = [
    ['status', 'Status'],
    ['total_amount', 'Total'],
    ['user_id', 'User'],
    ['payment_reference', 'Payment reference'],
    ['carrier', 'Carrier'],
    ['tracking_number', 'Tracking number'],
    ['cancel_reason', 'Cancel reason'],
    ['version', 'Version'],
    ['created_at', 'Placed'],
    ['updated_at', 'Last change'],
  ];

  function shown(key, order) {
    if (!order || order[key] === undefined || order[key] === null) return '';
    if (key === 'created_at' || key === 'updated_at') return utc(order[key]);
    if (key === 'total_amount') return money(order[key]);
    return text(order[key]);
  }

  function valueCell(value, changed) {
    if (value === '') return el('td', { class: 'none' }, 'none');
    return el('td', {}, changed ? el('mark', {}, value) : value);
  }

  async function showVersion(order, version, mine, focus) {
    current.version = version;
    markSelected();
    say(`Loading order ${order} as of version ${version}…`);
    const previous = String(BigInt(version) - 1n);
    // Both at once; the asked version's failure is the one to tell, whichever answers first.
    const [now, before] = await Promise.allSettled([
      api(`/orders/${order}?version=${version}`),
      previous === '0' ? Promise.resolve(null) : api(`/orders/${order}?version=${previous}`),
    ]);
    if (mine !== generation) return;
    const failed = now.status === 'rejected' ? now : before.status === 'rejected' ? before : null;
    if (failed) {
      $('state').hidden = true;
      fail(failed.reason, `Order ${order} has no version ${version}.`);
      return;
    }
    renderState(order, version, now.value, before.value);
    say('');
    if (focus) $('state-title').focus();
  }

  function renderState(order, version, now, before) {
    $('state-title').textContent = `Order ${order} as of version ${version}`;
    $('state-now').textContent = `Version ${version}`;
    $('state-before').textContent = before ? `Version ${before.version}` : 'Before';
    const event = current.events.find((e) => String(e.version) === String(version));
    $('state-note').textContent = before
      ? `After ${event ? event.type : 'this event'}. Marked: what changed since version ` +
        `${before.version}.`
      : 'The first version: the order as it was placed, with nothing before it.';

    const rows = $('state-rows');
    clear(rows);
    for (const [key, label] of STATE_FIELDS) {
      const value = shown(key, now);
      const old = before ? shown(key, before) : '';
      const changed = before !== null && value !== old;
      if (value === '' && old === '') continue;
      rows.append(el('tr', { class: changed ? 'changed' : '', 'data-field': key },
        el('th', { scope: 'row' }, label,
           changed ? el('span', { class: 'changed-badge' }, 'changed') : null),
        valueCell(value, changed),
        before ? valueCell(old, false) : el('td', { class: 'none' }, '—')));
    }

    const itemRows = $('state-item-rows');
    clear(itemRows);
    const oldItems = new Map(((before && before.items) || [])
      .map((i) => [String(i.product_id), i]));
    for (const item of now.items || []) {
      const was = oldItems.get(String(item.product_id));
      const changed = before !== null && (!was || was.quantity !== item.quantity ||
                                          money(was.price) !== money(item.price));
      itemRows.append(el('tr', { class: changed ? 'changed' : '' },
        el('th', { scope: 'row' }, `Product ${text(item.product_id)}`),
        el('td', { class: 'num' }, text(item.quantity)),
        el('td', { class: 'num' }, money(item.price)),
        el('td', { class: 'num' }, money(item.subtotal))));
    }
    $('state').hidden = false;
  }

  // ---- wiring ----

  function onTimelineKey(event) {
    const buttons = Array.from($('timeline').querySelectorAll('.entry-open'));
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    let next = null;
    if (event.key === 'ArrowDown') next = Math.min(at + 1, buttons.length - 1);
    else if (event.key === 'ArrowUp') next = Math.max(at - 1, 0);
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = buttons.length - 1;
    if (next === null) return;
    event.preventDefault();
    buttons[next].focus();
  }

  function start() {
    showAccess(false);
    $('order-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const id = parseId($('order-id').value);
      if (!id) {
        say('An order id is a whole number from 1 up, such as 4711.', 'warning');
        $('order-id').focus();
        return;
      }
      current.order = null;  // read it afresh: a search is a request for the latest
      go(`#order=${id}`);
    });
    $('user-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const id = parseId($('user-id').value);
      if (!id) {
        say('A user id is a whole number from 1 up, such as 101.', 'warning');
        $('user-id').focus();
        return;
      }
      go(`#user=${id}`);
    });
    $('token-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const value = $('token').value.trim();
      try {
        if (value) sessionStorage.setItem(TOKEN_KEY, value);
        else sessionStorage.removeItem(TOKEN_KEY);
      } catch (e) {
        say('This browser does not let the page keep a token.', 'error');
        return;
      }
      $('token').value = '';
      showAccess(false);
      current.order = null;
      route();
    });
    $('forget-token').addEventListener('click', () => {
      try {
        sessionStorage.removeItem(TOKEN_KEY);
      } catch (e) { /* nothing kept, nothing to forget */ }
      $('token').value = '';
      showAccess(false);
    });
    $('orders-more').addEventListener('click', () => {
      if (listing.next) loadOrdersPage(listing.next, listing.user, generation, false);
    });
    $('sort').addEventListener('change', renderTimeline);
    $('timeline').addEventListener('click', (event) => {
      const button = event.target.closest('.entry-open');
      if (!button || !current.order) return;
      focusState = true;
      go(`#order=${current.order}&version=${button.dataset.version}`);
    });
    $('timeline').addEventListener('keydown', onTimelineKey);
    window.addEventListener('hashchange', route);
    route();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
