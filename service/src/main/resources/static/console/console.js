// The distill web console: plain JavaScript against the public /v1 API, no build step.
// The token lives in sessionStorage only (this tab, until it closes or the user signs out) and is
// sent only in the Authorization header: never in a URL, so never in a log or a Referer.
// Events are followed with fetch() and a ReadableStream, because EventSource cannot send headers.
'use strict';

(function () {
  const TOKEN_KEY = 'distill.token';
  const STATUSES = ['QUEUED', 'RUNNING', 'CANCELLING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];
  const FINISHED = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
  const CHARTS = [
    { name: 'loss', element: 'chart-loss' },
    { name: 'kl', element: 'chart-kl' },
  ];
  const PAGE_SIZE = 50;
  const METRICS_PAGE = 10000;
  const POLL_MS = 3000;

  const $ = (id) => document.getElementById(id);
  let me = null; // the answer of GET /v1/whoami for the signed-in token
  let page = null; // what the current page must stop when left: {stop()}

  // ---- the API ----

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || 'HTTP ' + status);
      this.status = status;
      this.type = problem && problem.type;
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  async function problemOf(response) {
    try {
      return await response.json();
    } catch (e) {
      return null;
    }
  }

  /** One JSON call; a 401 on a signed-in session signs out (the token was revoked or expired). */
  async function api(method, path, options = {}) {
    const headers = { Accept: options.accept || 'application/json' };
    const t = options.token || token();
    if (t) headers.Authorization = 'Bearer ' + t;
    const response = await fetch(path, {
      method,
      headers,
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
      signal: options.signal,
    });
    if (!response.ok) {
      const error = new ApiError(response.status, await problemOf(response));
      if (response.status === 401 && !options.token) signOut('The token was refused: ' + error.message);
      throw error;
    }
    if (options.raw) return response;
    return response.status === 204 ? null : response.json();
  }

  /**
   * Follows the job's events (text/event-stream) from event id {@code after}; calls onEvent for each.
   * Returns when the stream ends (the job finished and every event was sent, or the service ended it).
   */
  async function followEvents(id, after, signal, onEvent) {
    const response = await api('GET', `/v1/jobs/${id}/events?after=${after}`, {
      accept: 'text/event-stream',
      raw: true,
      signal,
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        }
        if (data.length > 0) onEvent(JSON.parse(data.join('\n')));
      }
    }
  }

  /** Every point of series {@code name} after {@code afterStep}, page by page. */
  async function seriesAfter(id, name, afterStep) {
    const out = [];
    for (;;) {
      const body = await api(
        'GET',
        `/v1/jobs/${id}/metrics?names=${encodeURIComponent(name)}&after_step=${afterStep}&limit=${METRICS_PAGE}`,
      );
      const points = (body.series && body.series[name]) || [];
      out.push(...points);
      if (points.length < METRICS_PAGE) return out;
      afterStep = points[points.length - 1].step;
    }
  }

  // ---- small DOM helpers ----

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  function svg(tag, attrs = {}) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }

  function time(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  function number(v) {
    if (v === null || v === undefined) return '';
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toPrecision(4).replace(/\.?0+$/, '');
  }

  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }

  function statusBadge(status) {
    return el('span', { class: 'status ' + status, text: status });
  }

  function notice(message) {
    $('notice').textContent = message || '';
    $('notice').hidden = !message;
  }

  function show(sectionId) {
    for (const s of ['sign-in', 'jobs', 'job']) $(s).hidden = s !== sectionId;
  }

  // ---- sign-in ----

  async function signIn(event) {
    event.preventDefault();
    const candidate = $('token').value.trim();
    $('sign-in-error').hidden = true;
    $('sign-in-button').disabled = true;
    try {
      const who = await api('GET', '/v1/whoami', { token: candidate });
      sessionStorage.setItem(TOKEN_KEY, candidate);
      $('token').value = '';
      me = who;
      notice('');
      route();
    } catch (e) {
      const why =
        e.status === 401
          ? 'Token refused: unknown, revoked or expired.'
          : e.status === 403
            ? 'Token refused: ' + e.message + '.'
            : 'Sign-in failed: ' + e.message;
      $('sign-in-error').textContent = why;
      $('sign-in-error').hidden = false;
    } finally {
      $('sign-in-button').disabled = false;
    }
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    notice(message || '');
    route();
  }

  function renderWho() {
    const signedIn = me !== null;
    $('who').textContent = signedIn ? `${me.token_name} · ${me.role} · project ${me.project}` : '';
    $('sign-out').hidden = !signedIn;
    $('nav').hidden = !signedIn;
  }

  // ---- the job list ----

  function listQuery() {
    const q = new URLSearchParams(location.hash.split('?')[1] || '');
    const status = STATUSES.includes(q.get('status')) ? q.get('status') : '';
    const type = q.get('type') || '';
    return { status, type };
  }

  function setListQuery(change) {
    const q = Object.assign(listQuery(), change);
    const p = new URLSearchParams();
    if (q.status) p.set('status', q.status);
    if (q.type) p.set('type', q.type);
    location.hash = '#/jobs' + (p.toString() ? '?' + p : '');
  }

  function jobsPage() {
    const { status, type } = listQuery();
    for (const b of $('status-filter').querySelectorAll('button')) {
      b.setAttribute('aria-pressed', String(b.dataset.status === status));
    }
    $('type-filter').value = type;
    const body = $('job-table').tBodies[0];
    let after = null;
    let stopped = false;

    async function load(append) {
      const p = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (status) p.set('status', status);
      if (type) p.set('type', type);
      if (append && after) p.set('after', after);
      try {
        const result = await api('GET', '/v1/jobs?' + p);
        if (stopped) return;
        if (!append) body.replaceChildren();
        for (const j of result.items) body.append(jobRow(j));
        after = result.next_after;
        $('more-jobs').hidden = !result.has_more;
        $('jobs-empty').hidden = body.rows.length > 0;
        notice('');
      } catch (e) {
        if (!stopped && e.status !== 401) notice('Could not load jobs: ' + e.message);
      }
    }

    $('more-jobs').onclick = () => load(true);
    $('refresh-jobs').onclick = () => load(false);
    load(false);
    // refresh the first page while nothing more was loaded
    const timer = setInterval(() => {
      if ($('more-jobs').hidden || after === null) load(false);
    }, 5000);
    return { stop: () => { stopped = true; clearInterval(timer); } };
  }

  function jobRow(j) {
    const loss = j.latest_metrics && j.latest_metrics.loss;
    const tr = el(
      'tr',
      { 'data-job-id': j.id },
      el('td', {}, el('a', { href: '#/jobs/' + j.id, text: j.id.slice(0, 8) })),
      el('td', { text: (j.spec && j.spec.metadata && j.spec.metadata.name) || '' }),
      el('td', { text: j.type }),
      el('td', {}, statusBadge(j.status)),
      el('td', { class: 'num', text: String(j.priority) }),
      el('td', { class: 'num', text: `${j.attempts}/${j.max_attempts}` }),
      el('td', { class: 'num', text: number(loss) }),
      el('td', { text: time(j.created_at) }),
      el('td', { text: time(j.updated_at) }),
    );
    return tr;
  }

  // ---- one job ----

  function jobPage(id) {
    const abort = new AbortController();
    const series = Object.fromEntries(CHARTS.map((c) => [c.name, []]));
    const seenEvents = new Set();
    let job = null;
    let lastEvent = 0;
    let timer = null;
    let stopped = false;

    $('job-id').textContent = id;
    $('job-status').replaceChildren();
    $('job-facts').replaceChildren();
    $('job-error').hidden = true;
    $('cancel-job').hidden = true;
    $('checkpoint-table').tBodies[0].replaceChildren();
    $('event-table').tBodies[0].replaceChildren();
    $('job-spec').textContent = '';
    $('stream-state').textContent = '';
    for (const c of CHARTS) drawChart($(c.element), c.name, []);

    function error(message) {
      $('job-error').textContent = message;
      $('job-error').hidden = !message;
    }

    // one refresh at a time (a status event and the timer may ask together): the series grow by
    // the points after their last step, so two at once would add the same points twice
    let running = null;
    let again = false;
    function refresh() {
      if (running) {
        again = true;
        return running;
      }
      running = (async () => {
        try {
          do {
            again = false;
            await refreshOnce();
          } while (again && !stopped);
        } finally {
          running = null;
        }
      })();
      return running;
    }

    let complete = false; // the series were read whole once the job had finished
    async function refreshOnce() {
      try {
        job = await api('GET', '/v1/jobs/' + id);
        if (stopped) return;
        renderJob(job);
        const cps = await api('GET', `/v1/jobs/${id}/checkpoints`);
        renderCheckpoints(cps.items);
        // after the end, read each series whole once more: late points of an earlier attempt may
        // have filled steps below the last one seen
        const whole = FINISHED.has(job.status) && !complete;
        for (const c of CHARTS) {
          const have = series[c.name];
          const after = whole || have.length === 0 ? -1 : have[have.length - 1].step;
          const more = await seriesAfter(id, c.name, after);
          if (stopped) return;
          if (whole) have.length = 0;
          if (more.length > 0 || have.length === 0) {
            have.push(...more);
            drawChart($(c.element), c.name, have);
          }
        }
        if (whole) complete = true;
        if (FINISHED.has(job.status) && timer !== null) {
          clearInterval(timer);
          timer = null;
        }
      } catch (e) {
        if (!stopped && e.status !== 401) error('Could not load the job: ' + e.message);
      }
    }

    function renderJob(j) {
      $('job-status').replaceChildren(statusBadge(j.status));
      $('cancel-job').hidden = !(me && me.can_write_jobs) || FINISHED.has(j.status) || j.status === 'CANCELLING';
      const facts = [
        ['Type', j.type], ['Project', j.project],
        ['Attempts', `${j.attempts} of ${j.max_attempts}`], ['Priority', String(j.priority)],
        ['Worker', j.worker_id || ''], ['Created', time(j.created_at)],
        ['Started', time(j.started_at)], ['Finished', time(j.finished_at)],
        ['Updated', time(j.updated_at)], ['Output', j.output_uri || ''],
      ];
      if (j.failure_reason) facts.push(['Failure', j.failure_reason + (j.retryable ? ' (retryable)' : '')]);
      for (const [k, v] of Object.entries(j.latest_metrics || {})) facts.push(['Latest ' + k, number(v)]);
      $('job-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
      $('job-spec').textContent = JSON.stringify(j.spec, null, 2);
    }

    function renderCheckpoints(items) {
      $('checkpoint-table').tBodies[0].replaceChildren(
        ...items.map((c) =>
          el(
            'tr',
            {},
            el('td', { class: 'num', text: String(c.step) }),
            el('td', { class: 'wrap', text: c.uri }),
            el('td', { class: 'num', text: bytes(c.size_bytes) }),
            el('td', {}, el('code', { title: c.sha256, text: c.sha256.slice(0, 12) })),
            el('td', { text: c.final ? 'yes' : '' }),
            el('td', { class: 'num', text: String(c.attempt) }),
            el('td', { text: time(c.created_at) }),
          ),
        ),
      );
    }

    function addEvent(e) {
      if (seenEvents.has(e.id)) return;
      seenEvents.add(e.id);
      lastEvent = Math.max(lastEvent, e.id);
      $('event-table').tBodies[0].append(
        el(
          'tr',
          { class: 'level-' + (e.level || 'info'), 'data-kind': e.kind },
          el('td', { class: 'num', text: String(e.id) }),
          el('td', { text: time(e.ts) }),
          el('td', { class: 'num', text: String(e.attempt) }),
          el('td', { text: e.kind }),
          el('td', { text: e.level || '' }),
          el('td', { text: e.message || '' }),
        ),
      );
      if (e.kind === 'status' || e.kind === 'checkpoint') refresh();
    }

    async function follow() {
      while (!stopped) {
        $('stream-state').textContent = 'live';
        try {
          await followEvents(id, lastEvent, abort.signal, addEvent);
        } catch (e) {
          if (stopped) return;
          if (e.status === 401 || e.status === 404) {
            $('stream-state').textContent = '';
            if (e.status === 404) error('No such job in this project.');
            return;
          }
          $('stream-state').textContent = 'reconnecting';
          await new Promise((r) => setTimeout(r, 2000));
        }
        await refresh();
        if (job && FINISHED.has(job.status)) {
          $('stream-state').textContent = 'finished';
          return;
        }
      }
    }

    $('cancel-job').onclick = async () => {
      if (!confirm('Cancel job ' + id + '?')) return;
      $('cancel-job').disabled = true;
      try {
        renderJob(await api('POST', `/v1/jobs/${id}/cancel`));
        error('');
      } catch (e) {
        if (e.status !== 401) error('Cancel refused: ' + e.message);
      } finally {
        $('cancel-job').disabled = false;
      }
    };

    refresh().then(() => {
      if (stopped) return;
      if (!job || !FINISHED.has(job.status)) timer = setInterval(refresh, POLL_MS);
      follow();
    });
    return {
      stop() {
        stopped = true;
        abort.abort();
        if (timer !== null) clearInterval(timer);
      },
    };
  }

  // ---- charts: one inline SVG polyline per series, a point per metric point ----

  function drawChart(container, name, points) {
    const W = 520, H = 220, L = 56, R = 12, T = 10, B = 28;
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': name + ' by step' });
    if (points.length === 0) {
      const t = svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' });
      t.textContent = 'no ' + name + ' points';
      root.append(t);
      container.replaceChildren(root);
      container.dataset.points = '0';
      return;
    }
    const steps = points.map((p) => p.step);
    const values = points.map((p) => p.value).filter(Number.isFinite);
    let [x0, x1] = [Math.min(...steps), Math.max(...steps)];
    let [y0, y1] = values.length ? [Math.min(...values), Math.max(...values)] : [0, 1];
    if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
    if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
    const pad = (y1 - y0) * 0.05;
    [y0, y1] = [y0 - pad, y1 + pad];
    const x = (s) => L + ((s - x0) / (x1 - x0)) * (W - L - R);
    const y = (v) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
    for (let i = 0; i <= 4; i++) {
      const v = y0 + ((y1 - y0) * i) / 4;
      root.append(svg('line', { class: 'grid-line', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      const label = svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' });
      label.textContent = number(v);
      root.append(label);
    }
    root.append(svg('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }));
    root.append(svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }));
    for (const [s, anchor] of [[x0, 'start'], [(x0 + x1) / 2, 'middle'], [x1, 'end']]) {
      const label = svg('text', { x: x(s), y: H - 8, 'text-anchor': anchor });
      label.textContent = (anchor === 'start' ? 'step ' : '') + Math.round(s);
      root.append(label);
    }
    // a point whose value is not finite (NaN, inf) is drawn at the bottom edge, so none goes missing
    const coords = points.map((p) => `${x(p.step).toFixed(1)},${(Number.isFinite(p.value) ? y(p.value) : H - B).toFixed(1)}`);
    root.append(svg('polyline', { class: 'curve ' + name, points: coords.join(' ') }));
    container.replaceChildren(root);
    container.dataset.points = String(points.length);
  }

  // ---- routing (the hash holds the page, never the token) ----

  async function route() {
    if (page) page.stop();
    page = null;
    if (!token()) {
      me = null;
      renderWho();
      show('sign-in');
      $('token').focus();
      return;
    }
    if (me === null) {
      try {
        me = await api('GET', '/v1/whoami');
      } catch (e) {
        if (e.status !== 401) notice('The service did not answer: ' + e.message);
        return;
      }
    }
    renderWho();
    const m = location.hash.match(/^#\/jobs\/([0-9a-fA-F-]{36})$/);
    if (m) {
      show('job');
      page = jobPage(m[1]);
    } else {
      show('jobs');
      page = jobsPage();
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('sign-in-form').addEventListener('submit', signIn);
    $('sign-out').addEventListener('click', () => signOut('Signed out.'));
    for (const b of $('status-filter').querySelectorAll('button')) {
      b.addEventListener('click', () => setListQuery({ status: b.dataset.status }));
    }
    $('type-filter').addEventListener('change', () => setListQuery({ type: $('type-filter').value }));
    window.addEventListener('hashchange', route);
    route();
  });
})();
