// fleetpulse live dashboard: plain browser JavaScript, no build step, no framework.
// State comes from one server-sent event stream (/events): a `snapshot` (live state merged with
// InfluxDB history) when the page opens or cannot resume, then `delta` events with what changed.
// The selected vehicle's charts start from /api/vehicles/:id/history and grow with the deltas.
'use strict';

const CHART_MINUTES = 10;
const MAX_POINTS = 4000;
const $ = (id) => document.getElementById(id);

const model = {
  signals: [],
  vehicles: new Map(),
  alerts: new Map(),
  countries: new Map(),
  threats: new Map(),
  apiWindowMs: 300000,
  selected: undefined,
  history: { vehicle: undefined, samples: [], scores: [] },
  backfill: undefined,
  lastEventAt: 0,
};
// For tests and the curious: counts of what arrived.
window.__dashboard = { snapshots: 0, deltas: 0, lastDeltaAt: 0, notifyPolls: 0, model };

// ---------- events ----------
function connect() {
  const source = new EventSource('/events');
  source.addEventListener('open', () => setConn(true));
  source.addEventListener('error', () => setConn(false)); // EventSource reconnects with Last-Event-ID
  source.addEventListener('snapshot', (e) => applySnapshot(JSON.parse(e.data)));
  source.addEventListener('delta', (e) => applyDelta(JSON.parse(e.data)));
}

function setConn(on) {
  const el = $('conn');
  el.className = `conn ${on ? 'on' : 'off'}`;
  el.textContent = on ? 'live' : 'reconnecting…';
}

function applySnapshot(s) {
  window.__dashboard.snapshots += 1;
  model.signals = s.signals;
  model.apiWindowMs = s.apiWindowMs;
  model.vehicles = new Map(s.vehicles.map((v) => [v.id, v]));
  model.alerts = new Map(s.alerts.map((a) => [`${a.alertId}|${a.state}`, a]));
  model.countries = new Map(s.countries.map((c) => [c.country, c]));
  model.threats = new Map(s.threats.map((t) => [t.key, t]));
  model.backfill = s.backfill;
  model.lastEventAt = Date.now();
  if (!model.selected || !model.vehicles.has(model.selected)) {
    const vs = [...model.vehicles.values()];
    const pick = vs.find((v) => v.state === 'anomalous') ?? vs[0];
    if (pick) select(pick.id);
  } else if (model.history.vehicle === model.selected) {
    loadHistory(model.selected);
  }
  document.body.dataset.ready = 'true';
  schedule();
}

function applyDelta(d) {
  window.__dashboard.deltas += 1;
  window.__dashboard.lastDeltaAt = Date.now();
  model.lastEventAt = Date.now();
  for (const v of d.vehicles ?? []) {
    const samples = v.samples ?? [];
    delete v.samples;
    const old = model.vehicles.get(v.id);
    model.vehicles.set(v.id, { ...old, ...v });
    if (v.id === model.history.vehicle) {
      const h = model.history;
      const lastT = h.samples.length ? h.samples[h.samples.length - 1][0] : -Infinity;
      for (const s of samples) if (s[0] > lastT) h.samples.push(s);
      if (h.samples.length > MAX_POINTS) h.samples.splice(0, h.samples.length - MAX_POINTS);
      const lastW = h.scores.length ? h.scores[h.scores.length - 1][0] : -Infinity;
      if (v.windowStartMs !== undefined && v.windowStartMs > lastW) h.scores.push([v.windowStartMs, v.score, v.threshold]);
    }
  }
  for (const id of d.removedVehicles ?? []) model.vehicles.delete(id);
  for (const a of d.alerts ?? []) model.alerts.set(`${a.alertId}|${a.state}`, a);
  for (const c of d.countries ?? []) model.countries.set(c.country, { ...model.countries.get(c.country), ...c });
  for (const t of d.threats ?? []) model.threats.set(t.key, t);
  for (const k of d.expiredThreats ?? []) model.threats.delete(k);
  if (model.selected === undefined && model.vehicles.size > 0) select([...model.vehicles.keys()].sort()[0]);
  schedule();
}

async function loadHistory(id) {
  try {
    const r = await fetch(`/api/vehicles/${encodeURIComponent(id)}/history?minutes=${CHART_MINUTES}`);
    const h = await r.json();
    if (model.selected !== id) return;
    // Keep live points newer than the history's last one.
    const live = model.history.vehicle === id ? model.history : { samples: [], scores: [] };
    const lastT = h.samples.length ? h.samples[h.samples.length - 1][0] : -Infinity;
    const lastW = h.scores.length ? h.scores[h.scores.length - 1][0] : -Infinity;
    model.history = {
      vehicle: id,
      samples: [...h.samples, ...live.samples.filter((s) => s[0] > lastT)],
      scores: [...h.scores, ...live.scores.filter((s) => s[0] > lastW)],
      ok: h.ok,
    };
    $('selected-note').textContent = h.ok ? `history from InfluxDB: ${h.samples.length} samples, ${h.scores.length} windows` : `history unavailable: ${h.error}`;
    document.body.dataset.historyLoaded = id;
    schedule();
  } catch (e) {
    $('selected-note').textContent = `history unavailable: ${e}`;
  }
}

function select(id) {
  model.selected = id;
  model.history = { vehicle: id, samples: [], scores: [] };
  $('selected').textContent = id;
  loadHistory(id);
  schedule();
}

// ---------- rendering (at most once per animation frame) ----------
let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    render();
  });
}

// Every string from the server goes into HTML through esc (vehicle ids, subjects and key prefixes come from outside).
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (v, digits = 0) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toFixed(digits));
const ago = (ms) => {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};
const idx = (name) => model.signals.indexOf(name);

function render() {
  const vehicles = [...model.vehicles.values()].sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
  const counts = { anomalous: 0, healthy: 0, learning: 0, unscored: 0 };
  for (const v of vehicles) counts[v.state] = (counts[v.state] ?? 0) + 1;
  $('n-vehicles').textContent = vehicles.length;
  $('n-anomalous').textContent = counts.anomalous;
  $('n-healthy').textContent = counts.healthy;
  $('n-learning').textContent = counts.learning;
  $('n-alerts').textContent = vehicles.filter((v) => v.alerting).length;
  $('n-blocks').textContent = model.threats.size;
  $('n-mil').textContent = vehicles.filter((v) => v.health && v.health.mil === true).length;
  renderTiles(vehicles);
  renderDiagnosis();
  renderFleet(vehicles);
  renderAlerts();
  renderCountries();
  renderThreats();
  renderCharts();
  const age = model.lastEventAt ? (Date.now() - model.lastEventAt) / 1000 : undefined;
  $('freshness').textContent = age === undefined ? 'waiting for data' : `last update ${age.toFixed(1)} s ago`;
  const b = model.backfill;
  $('backfill').textContent = !b ? '' : b.ok ? `opened with InfluxDB history: ${b.vehicles} vehicles, ${b.alerts} alerts, ${b.threats} blocks` : `InfluxDB history unavailable (${b.error}); live data only`;
}

function renderTiles(vehicles) {
  const box = $('tiles');
  const existing = new Map([...box.children].map((el) => [el.dataset.vehicle, el]));
  for (const v of vehicles) {
    let el = existing.get(v.id);
    if (!el) {
      el = document.createElement('div');
      el.className = 'tile';
      el.dataset.vehicle = v.id;
      el.addEventListener('click', () => select(v.id));
      box.appendChild(el);
    }
    existing.delete(v.id);
    el.dataset.state = v.state;
    el.classList.toggle('selected', v.id === model.selected);
    const mil = v.health && v.health.mil === true;
    el.dataset.mil = mil ? 'on' : 'off';
    el.title = `${v.id}: ${v.state}${v.alerting ? ' (alert raised)' : ''}${learningText(v) ? ` · baseline ${learningText(v)}` : ''}${mil ? ` · check-engine light on: ${confirmedCodes(v).join(', ')}` : ''}`;
    el.innerHTML = `${mil ? `<i class="mil" title="check-engine light on">MIL ${esc(confirmedCodes(v)[0] ?? '')}</i>` : ''}<b>${esc(v.id)}</b>${v.score === undefined ? 'no score' : v.state === 'learning' ? esc(learningText(v)) : `score ${fmt(v.score, 2)}`}`;
  }
  for (const el of existing.values()) el.remove();
  // Keep the tile order the sorted order.
  vehicles.forEach((v, i) => {
    const el = box.querySelector(`[data-vehicle="${CSS.escape(v.id)}"]`);
    if (box.children[i] !== el) box.insertBefore(el, box.children[i] ?? null);
  });
}

// Confirmed codes first (the ones that light the MIL), then pending, then permanent.
const KIND_ORDER = { confirmed: 0, pending: 1, permanent: 2 };
function listedCodes(v) {
  return [...((v.health && v.health.codes) || [])].sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.code.localeCompare(b.code));
}
function confirmedCodes(v) {
  return listedCodes(v).filter((c) => c.kind === 'confirmed').map((c) => c.code);
}

// The selected vehicle's own diagnosis: the MIL, and every code it lists with description, first seen, freeze frame.
function renderDiagnosis() {
  const box = $('diagnosis');
  const v = model.vehicles.get(model.selected);
  const h = v && v.health;
  if (!h) {
    box.innerHTML = '<p class="muted">No diagnosis (trouble codes, MIL) reported yet.</p>';
    return;
  }
  const when = (ms) => new Date(ms).toLocaleString([], { hourCycle: 'h23' });
  const mil = h.mil === true ? `<span class="mil-state on" data-mil="on">Check-engine light ON${h.milOnSinceMs ? ` since ${when(h.milOnSinceMs)}` : ''}</span>` : h.mil === false ? '<span class="mil-state" data-mil="off">Check-engine light off</span>' : '<span class="mil-state" data-mil="unknown">Check-engine light: not reported</span>';
  const codes = listedCodes(v);
  const frame = (f) => (f ? `<div class="frame">freeze frame: ${Object.entries(f).map(([k, x]) => `${esc(k)} ${fmt(x, Number.isInteger(x) ? 0 : 1)}`).join(' · ')}</div>` : '');
  const rows = codes.map((c) => `<tr data-code="${esc(c.code)}" data-kind="${esc(c.kind)}"><td><b>${esc(c.code)}</b></td><td>${esc(c.kind)}</td><td>${esc(c.description)}${frame(c.freezeFrame)}</td><td>first seen ${esc(when(c.firstSeenMs))}</td></tr>`);
  box.innerHTML = `${mil}${codes.length ? `<table class="codes"><tbody>${rows.join('')}</tbody></table>` : '<p class="muted">No trouble codes listed.</p>'}`;
}

// "learning 40 %" while the vehicle's own baseline learns (it is judged on fleet evidence meanwhile).
function learningText(v) {
  return v.baseline && v.baseline.status === 'learning' ? `learning ${Math.floor(100 * (v.baseline.progress ?? 0))} %` : '';
}

function renderFleet(vehicles) {
  const body = $('fleet').tBodies[0];
  const rows = vehicles.map((v) => {
    const val = (name) => (v.values ? v.values[idx(name)] : undefined);
    const trim = val('SHORT_FUEL_TRIM_1') === null || val('LONG_FUEL_TRIM_1') === null || val('SHORT_FUEL_TRIM_1') === undefined ? undefined : val('SHORT_FUEL_TRIM_1') + val('LONG_FUEL_TRIM_1');
    return `<tr data-vehicle="${esc(v.id)}" data-state="${esc(v.state)}" class="${v.id === model.selected ? 'selected' : ''}"><td><span class="dot ${esc(v.state)}"></span>${esc(v.id)}${v.alerting ? ' ⚠' : ''}${v.health && v.health.mil === true ? ' <span class="mil-mark" title="check-engine light on">MIL</span>' : ''}</td><td>${fmt(v.score, 2)}</td><td class="baseline">${v.baseline ? (v.baseline.status === 'learned' ? 'learned' : esc(learningText(v))) : '–'}</td><td>${fmt(val('RPM'))}</td><td>${fmt(val('SPEED'))}</td><td>${fmt(val('COOLANT_TEMP'))}</td><td>${fmt(trim, 1)}</td><td>${v.t ? ago(v.t) : '–'}</td></tr>`;
  });
  body.innerHTML = rows.join('');
  for (const tr of body.rows) tr.addEventListener('click', () => select(tr.dataset.vehicle));
}

function renderAlerts() {
  const list = [...model.alerts.values()].sort((a, b) => b.atMs - a.atMs).slice(0, 50);
  $('alerts').innerHTML = list.length
    ? list.map((a) => `<li class="${esc(a.state)}" data-alert-vehicle="${esc(a.vehicle)}" data-alert-state="${esc(a.state)}"><span class="when">${new Date(a.atMs).toLocaleTimeString([], { hourCycle: 'h23' })}</span><b>${a.state === 'raised' ? 'raised' : 'cleared'}</b> ${esc(a.vehicle)} · ${a.kind === 'dtc' ? 'trouble code' : a.kind === 'mil' ? '<span class="mil-mark">check-engine light</span>' : `score ${fmt(a.score, 2)} / ${fmt(a.threshold, 2)}`}<div class="why">${esc(a.text ?? a.topFeatures.slice(0, 3).join(', '))}</div></li>`).join('')
    : '<li class="muted">No alerts yet. A vehicle raises one after 3 anomalous windows in a row.</li>';
}

function renderCountries() {
  const list = [...model.countries.values()].filter((c) => c.requests > 0).sort((a, b) => b.requests - a.requests);
  $('api-window').textContent = `last ${Math.round(model.apiWindowMs / 60000)} min · ${list.reduce((n, c) => n + c.requests, 0)} requests`;
  $('countries').tBodies[0].innerHTML = list.slice(0, 12).map((c) => `<tr data-country="${esc(c.country)}"><td>${c.country === 'ZZ' ? 'unknown / private' : esc(c.country)}</td><td>${c.requests}</td><td>${c.errors}</td></tr>`).join('');
  drawWorld(list);
}

function renderThreats() {
  const now = Date.now();
  const list = [...model.threats.values()].filter((t) => t.blockUntilMs > now).sort((a, b) => b.lastMs - a.lastMs);
  $('threats').tBodies[0].innerHTML = list.map((t) => `<tr data-threat-rule="${esc(t.rule)}" data-threat-subject="${esc(t.subject)}"><td>${esc(t.rule)}</td><td>${esc(t.subject)}</td><td>${t.count}</td><td>${ago(t.lastMs)}</td><td class="block">${Math.ceil((t.blockUntilMs - now) / 60000)} min</td></tr>`).join('');
  $('no-threats').style.display = list.length ? 'none' : '';
}

// ---------- notifications (polled: a handful of channels whose state changes rarely) ----------
let notifyStatus;
async function pollNotifications() {
  try {
    const r = await fetch('/api/notifications');
    if (r.ok) notifyStatus = await r.json();
  } catch {
    // The event stream's indicator already says when ingest is unreachable.
  }
  renderNotifications();
  window.__dashboard.notifyPolls += 1;
}

function renderNotifications() {
  const s = notifyStatus;
  $('notify-panel').hidden = !s || s.channels.length === 0;
  if (!s || s.channels.length === 0) return;
  $('notify-pending').textContent = `${s.pending} waiting (bound ${s.maxPending})${s.healthRaised.length ? ` · ingest health: ${s.healthRaised.join(', ')}` : ''}`;
  $('notify').tBodies[0].innerHTML = s.channels
    .map((c) => {
      const failing = c.activity === 'retrying';
      const state = failing ? `retrying${c.nextAttemptMs ? ` in ${Math.max(0, Math.ceil((c.nextAttemptMs - Date.now()) / 1000))} s` : ''}` : c.activity.replace('_', ' ');
      const dropped = c.dropped.outbox_full + c.dropped.expired;
      return `<tr data-channel="${esc(c.name)}" data-activity="${esc(c.activity)}"><td title="${esc(c.type)}">${esc(c.name)}</td><td class="${failing ? 'failing' : ''}">${esc(state)}</td><td>${c.lastDeliveryMs ? ago(c.lastDeliveryMs) : '–'}</td><td>${c.delivered}</td><td>${c.failures + c.rejected}${dropped ? ` (+${dropped} dropped)` : ''}</td><td>${c.pending ?? '–'}</td></tr>`;
    })
    .join('');
  const last = s.channels.filter((c) => c.lastError && c.lastFailureMs).sort((a, b) => b.lastFailureMs - a.lastFailureMs)[0];
  $('notify-error').textContent = last ? `last failure: ${last.name}, ${ago(last.lastFailureMs)}: ${last.lastError}` : '';
}

// ---------- charts ----------
function lineChart(canvas, series, options = {}) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  const pad = { l: 42, r: 6, t: 6, b: 16 };
  ctx.clearRect(0, 0, W, H);
  const now = Date.now();
  const x0 = options.from ?? now - CHART_MINUTES * 60000;
  const x1 = now;
  const pts = series.filter((p) => p[0] >= x0 && p[1] !== null && p[1] !== undefined);
  let lo = options.min ?? Math.min(...pts.map((p) => p[1]));
  let hi = options.max ?? Math.max(...pts.map((p) => p[1]));
  if (!pts.length || !Number.isFinite(lo) || !Number.isFinite(hi)) {
    ctx.fillStyle = '#9aa3ad';
    ctx.font = '11px system-ui';
    ctx.fillText('no data in the last minutes', pad.l, H / 2);
    return;
  }
  if (hi === lo) [lo, hi] = [lo - 1, hi + 1];
  const X = (t) => pad.l + ((t - x0) / (x1 - x0)) * (W - pad.l - pad.r);
  const Y = (v) => pad.t + (1 - (v - lo) / (hi - lo)) * (H - pad.t - pad.b);
  ctx.strokeStyle = '#e3e7eb';
  ctx.fillStyle = '#6b7785';
  ctx.font = '10px system-ui';
  ctx.lineWidth = 1;
  for (const v of [lo, (lo + hi) / 2, hi]) {
    ctx.beginPath();
    ctx.moveTo(pad.l, Y(v));
    ctx.lineTo(W - pad.r, Y(v));
    ctx.stroke();
    ctx.fillText(fmt(v, hi - lo < 5 ? 2 : 0), 2, Y(v) + 3);
  }
  const span = x1 - x0;
  for (let m = 0; m <= span / 60000; m += Math.max(1, Math.round(span / 60000 / 5))) ctx.fillText(m === 0 ? 'now' : `-${m} min`, X(x1 - m * 60000) - 14, H - 3);
  if (options.threshold !== undefined) {
    ctx.strokeStyle = '#d62728';
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(pad.l, Y(options.threshold));
    ctx.lineTo(W - pad.r, Y(options.threshold));
    ctx.stroke();
    ctx.setLineDash([]);
  }
  if (options.bars) {
    const w = Math.max(2, (30000 / span) * (W - pad.l - pad.r) - 1);
    for (const p of pts) {
      ctx.fillStyle = options.threshold !== undefined && p[1] >= options.threshold ? '#d62728' : '#1f77b4';
      ctx.fillRect(X(p[0]), Y(p[1]), w, Y(lo) - Y(p[1]));
    }
    return;
  }
  ctx.strokeStyle = options.colour ?? '#1f77b4';
  ctx.lineWidth = 1.3;
  ctx.beginPath();
  let prev;
  for (const p of pts) {
    // Gaps longer than 10 s (engine off, connection lost) are not bridged.
    if (prev === undefined || p[0] - prev > 10000) ctx.moveTo(X(p[0]), Y(p[1]));
    else ctx.lineTo(X(p[0]), Y(p[1]));
    prev = p[0];
  }
  ctx.stroke();
}

function renderCharts() {
  const h = model.history;
  const v = model.vehicles.get(model.selected);
  const col = (name) => h.samples.map((s) => [s[0], s[1 + idx(name)]]);
  const threshold = v?.threshold ?? h.scores[h.scores.length - 1]?.[2] ?? 0.5;
  const colour = v?.state === 'anomalous' ? '#d62728' : '#1f77b4';
  lineChart($('c-score'), h.scores.map((s) => [s[0], s[1]]), { min: 0, max: 1, threshold, bars: true, from: Date.now() - 30 * 60000 });
  lineChart($('c-rpm'), col('RPM'), { colour });
  lineChart($('c-speed'), col('SPEED'), { colour });
  lineChart($('c-coolant'), col('COOLANT_TEMP'), { colour });
  lineChart($('c-trim'), h.samples.map((s) => [s[0], s[1 + idx('SHORT_FUEL_TRIM_1')] === null || s[1 + idx('LONG_FUEL_TRIM_1')] === null ? null : s[1 + idx('SHORT_FUEL_TRIM_1')] + s[1 + idx('LONG_FUEL_TRIM_1')]]), { colour });
}

// ---------- world map (equirectangular; coarse hand-drawn continents, for orientation only) ----------
const LAND = [
  [[-168, 66], [-156, 71], [-140, 70], [-127, 70], [-110, 68], [-95, 72], [-82, 73], [-75, 68], [-64, 60], [-56, 52], [-66, 45], [-70, 42], [-76, 38], [-76, 35], [-81, 31], [-80, 25], [-82, 29], [-90, 30], [-97, 28], [-97, 22], [-91, 19], [-87, 21], [-88, 16], [-83, 15], [-83, 10], [-78, 8], [-80, 7], [-86, 11], [-92, 14], [-105, 20], [-110, 24], [-112, 29], [-115, 30], [-117, 33], [-121, 35], [-124, 40], [-124, 47], [-130, 54], [-138, 59], [-150, 60], [-155, 57], [-165, 55], [-160, 59], [-165, 62]],
  [[-78, 8], [-72, 12], [-62, 10], [-52, 5], [-35, -5], [-39, -13], [-41, -22], [-48, -26], [-53, -34], [-58, -38], [-65, -41], [-66, -47], [-69, -52], [-72, -54], [-75, -50], [-73, -40], [-71, -30], [-70, -18], [-76, -14], [-81, -6], [-80, 0]],
  [[-10, 36], [-9, 43], [-2, 44], [-5, 48], [2, 51], [8, 54], [11, 57], [5, 59], [5, 62], [14, 68], [20, 70], [30, 70], [40, 67], [45, 68], [60, 69], [70, 73], [80, 73], [100, 77], [112, 74], [130, 72], [140, 72], [160, 70], [170, 70], [180, 67], [178, 64], [163, 60], [160, 54], [156, 51], [155, 57], [143, 59], [136, 54], [141, 48], [134, 43], [129, 40], [129, 35], [126, 35], [126, 38], [121, 40], [122, 37], [119, 35], [122, 30], [120, 25], [111, 21], [108, 21], [106, 17], [109, 12], [105, 9], [101, 13], [100, 8], [104, 1], [101, 3], [98, 8], [98, 16], [94, 16], [92, 22], [88, 21], [80, 15], [77, 8], [73, 16], [72, 21], [67, 24], [61, 25], [57, 26], [56, 24], [59, 22], [53, 16], [45, 13], [43, 15], [39, 22], [35, 28], [34, 31], [36, 36], [30, 36], [27, 37], [26, 40], [23, 40], [23, 37], [20, 40], [19, 42], [13, 45], [12, 44], [16, 40], [12, 38], [9, 44], [3, 43], [0, 39], [-5, 36]],
  [[-17, 21], [-16, 12], [-8, 4], [5, 5], [9, 4], [9, -1], [13, -6], [12, -17], [15, -27], [18, -34], [25, -34], [33, -27], [35, -24], [40, -15], [40, -10], [39, -5], [42, 0], [51, 12], [43, 12], [38, 18], [34, 28], [32, 31], [20, 32], [10, 34], [11, 37], [0, 36], [-6, 36], [-10, 30]],
  [[114, -22], [114, -34], [118, -35], [124, -33], [132, -32], [138, -35], [141, -38], [146, -39], [150, -37], [153, -30], [153, -25], [146, -19], [142, -11], [141, -17], [136, -12], [131, -11], [126, -14], [122, -18]],
  [[-45, 60], [-52, 65], [-55, 71], [-70, 77], [-60, 82], [-30, 83], [-20, 78], [-22, 70], [-40, 65]],
  [[-5, 50], [1, 51], [0, 53], [-2, 56], [-3, 58], [-5, 58], [-5, 55], [-3, 54], [-5, 52]],
  [[130, 31], [132, 34], [135, 34], [140, 36], [142, 40], [141, 45], [144, 44], [140, 40], [139, 35], [133, 33]],
  [[95, 5], [106, -6], [101, -3]],
  [[109, 2], [118, 6], [119, -1], [116, -4], [110, -3]],
  [[44, -25], [47, -25], [50, -15], [49, -12], [44, -16]],
  [[166, -46], [174, -41], [178, -38], [173, -35], [172, -41]],
];

function drawWorld(countries) {
  const canvas = $('world');
  const ctx = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  const X = (lon) => ((lon + 180) / 360) * W;
  const Y = (lat) => ((90 - lat) / 180) * H;
  ctx.clearRect(0, 0, W, H);
  ctx.strokeStyle = '#d5e0ea';
  ctx.lineWidth = 1;
  for (let lon = -150; lon <= 150; lon += 30) {
    ctx.beginPath();
    ctx.moveTo(X(lon), 0);
    ctx.lineTo(X(lon), H);
    ctx.stroke();
  }
  for (let lat = -60; lat <= 60; lat += 30) {
    ctx.beginPath();
    ctx.moveTo(0, Y(lat));
    ctx.lineTo(W, Y(lat));
    ctx.stroke();
  }
  ctx.fillStyle = '#cfd8cf';
  for (const poly of LAND) {
    ctx.beginPath();
    poly.forEach(([lon, lat], i) => (i ? ctx.lineTo(X(lon), Y(lat)) : ctx.moveTo(X(lon), Y(lat))));
    ctx.closePath();
    ctx.fill();
  }
  const max = Math.max(1, ...countries.map((c) => c.requests));
  ctx.font = '10px system-ui';
  for (const c of countries) {
    if (c.lat === undefined || c.lon === undefined) continue;
    const r = 3 + 14 * Math.sqrt(c.requests / max);
    const errShare = c.requests ? c.errors / c.requests : 0;
    ctx.fillStyle = errShare > 0.5 ? 'rgba(214,39,40,0.65)' : 'rgba(31,119,180,0.6)';
    ctx.beginPath();
    ctx.arc(X(c.lon), Y(c.lat), r, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = '#1d2733';
    ctx.fillText(`${c.country} ${c.requests}`, X(c.lon) + r + 2, Y(c.lat) + 3);
  }
  const unplaced = countries.filter((c) => c.lat === undefined).map((c) => `${c.country === 'ZZ' ? 'unknown' : c.country} ${c.requests}`);
  if (unplaced.length) {
    ctx.fillStyle = '#6b7785';
    ctx.fillText(`not placed: ${unplaced.slice(0, 8).join(', ')}`, 6, H - 6);
  }
}

// Ages and countdowns move even when no event arrives.
setInterval(schedule, 1000);
setInterval(pollNotifications, 5000);
pollNotifications();

connect();
