// Herald dashboard: reads the JSON API with the operator's key; API text only ever enters the DOM as text nodes.
"use strict";

const KEY_STORAGE = "herald.apiKey";
const [FAST_POLL_MS, SLOW_POLL_MS, CHART_WINDOW_MS] = [2000, 10000, 5 * 60 * 1000];
const SVG_NS = "http://www.w3.org/2000/svg";
// Mirrors the server's transitions so buttons that cannot apply are disabled; the server still decides.
const ALLOWED = {pause: ["running"], resume: ["paused"], cancel: ["scheduled", "running", "paused"]};
// Progress bar segments in drawing order; open rows (pending, processing) are the unfilled rest.
const SEGMENTS = [["delivered", ["delivered"]], ["sent", ["sent"]], ["unknown", ["unknown_delivery"]],
  ["failed", ["failed", "unreachable"]], ["skipped", ["rejected", "opted_out", "cancelled"]]];
// Legend words where a segment gathers several statuses.
const LEGEND = {unknown: "sent, no delivery report", failed: "failed or unreachable", skipped: "rejected, opted out or cancelled"};
const state = {key: null, selected: null, timers: {}, generations: {}};
const numbers = new Intl.NumberFormat();
const $ = (id) => document.getElementById(id);
const fmt = (n) => numbers.format(n);

/** Build an element; string children become text nodes, so API text is never parsed as markup. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(text(child)));
  return node;
}

/** Any value as display text; missing values show as a dash. */
const text = (value) => (value === null || value === undefined || value === "" ? "—" : String(value));
/** An ISO time in the viewer's locale. */
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

/** Seconds as "1 h 02 min", "3 min 05 s" or "12 s". */
function duration(seconds) {
  const s = Math.round(seconds);
  const pad = (n) => String(n).padStart(2, "0");
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
  return s >= 60 ? `${Math.floor(s / 60)} min ${pad(s % 60)} s` : `${s} s`;
}

/** Show or clear a notice line. */
const notify = (node, message, isError) => Object.assign(node, {textContent: message || "", hidden: !message,
  className: isError ? "notice error" : "notice"});

/** Call the API with the bearer key; answer the parsed body, or throw an Error carrying the server's message. */
async function api(method, path, parse = "json") {
  const response = await fetch(path, {method, cache: "no-store",
    headers: {Authorization: `Bearer ${state.key}`, Accept: "application/json"}});
  if (response.status === 401) disconnect("The key was refused: unknown or revoked API key.");
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new Error((body && body.error && body.error.message) || `HTTP ${response.status}`);
  }
  return parse === "blob" ? response.blob() : response.json();
}

/** GET a path of the selected broadcast and render it, unless the operator picked another one meanwhile. */
async function forSelected(pathFor, render) {
  const id = state.selected;
  if (!id) return;
  const data = await api("GET", pathFor(encodeURIComponent(id)));
  if (id === state.selected) render(data, id);
}

/** Move a key given as #key=... into session storage once, and drop it from the address bar. */
function adoptFragmentKey() {
  const match = /(?:^|&)key=([^&]+)/.exec(location.hash.slice(1));
  if (!match) return;
  sessionStorage.setItem(KEY_STORAGE, decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search);
}

/** Keep the key for this tab and start polling. */
function connect(key) {
  state.key = key;
  sessionStorage.setItem(KEY_STORAGE, key);
  $("key-panel").hidden = true;
  $("app").hidden = $("forget-key").hidden = false;
  loop("slow", () => Promise.all([refreshBroadcasts(), refreshQuotas(), refreshAudit(), refreshDeadLetters()]),
       SLOW_POLL_MS);
  loop("fast", refreshSummary, FAST_POLL_MS);
}

/** Stop polling, forget the key and ask for one again. */
function disconnect(reason) {
  Object.values(state.timers).forEach(clearTimeout);
  Object.assign(state, {key: null, selected: null, timers: {}});
  sessionStorage.removeItem(KEY_STORAGE);
  $("app").hidden = $("forget-key").hidden = true;
  $("key-panel").hidden = false;
  $("key-error").textContent = reason || "";
  setConnection("not connected", "");
}

/** The header pill: live, failing or not connected. */
const setConnection = (label, kind) => Object.assign($("connection"), {textContent: label, className: `pill ${kind}`});

/** Run fn now and then every ms after it finishes, so slow answers never pile up. */
function loop(name, fn, ms) {
  clearTimeout(state.timers[name]);
  // A restarted loop supersedes the old one even while the old one's request is still in flight.
  const generation = (state.generations[name] || 0) + 1;
  state.generations[name] = generation;
  const tick = async () => {
    try {
      await fn();
      setConnection(`live · updated ${new Date().toLocaleTimeString()}`, "ok");
    } catch (error) {
      if (state.key) setConnection(`error: ${error.message}`, "bad");
    }
    if (state.key && state.generations[name] === generation) state.timers[name] = setTimeout(tick, ms);
  };
  tick();
}

/** The service's broadcasts, newest first; the newest is selected when nothing is. */
async function refreshBroadcasts() {
  const {broadcasts} = await api("GET", "/v1/broadcasts?limit=100");
  $("broadcasts-empty").hidden = broadcasts.length > 0;
  $("broadcast-list").replaceChildren(...broadcasts.map((b) => el("li", {},
    el("button", {type: "button", class: b.id === state.selected ? "item selected" : "item", "data-id": b.id,
                  onclick: () => select(b.id)},
      el("span", {class: "item-top"}, el("span", {class: `badge status-${b.status}`}, b.status),
         el("span", {class: "muted"}, when(b.created_at))),
      el("span", {class: "item-body"}, b.body.length > 70 ? `${b.body.slice(0, 70)}…` : b.body),
      el("span", {class: "muted"}, `${fmt(b.accepted)} of ${fmt(b.recipients)} accepted`)))));
  if (!state.selected && broadcasts.length) select(broadcasts[0].id);
}

/** Show one broadcast and poll its counts fast. */
function select(id) {
  state.selected = id;
  $("no-selection").hidden = true;
  $("broadcast-detail").hidden = false;
  [$("action-message"), $("dead-letter-message")].forEach((notice) => notify(notice, ""));
  document.querySelectorAll(".broadcast-list .item").forEach((item) => item.classList.toggle("selected",
    item.dataset.id === id));
  Object.assign($("report-link"), {href: `/v1/broadcasts/${encodeURIComponent(id)}/report.csv`,
    download: `broadcast-${id}.csv`});
  loop("fast", refreshSummary, FAST_POLL_MS);
  Promise.all([refreshAudit(), refreshDeadLetters()]).catch(() => {});
}

/** Counts, rate and ETA of the selected broadcast, and its chart from the server's rate history. */
function refreshSummary() {
  return forSelected((id) => `/v1/broadcasts/${id}`, (summary) => {
    // The server's clock places the points, so a client clock that is off does not shift the chart.
    const points = summary.send_rate_history.map((p) => ({t: p.at * 1000, rate: p.rate}));
    renderSummary(summary);
    drawChart(points, points.length ? points[points.length - 1].t : Date.now());
  });
}

/** Fill the detail panel from GET /v1/broadcasts/{id}. */
function renderSummary(s) {
  $("detail-title").textContent = `Broadcast ${s.id}`;
  $("detail-body").textContent = s.body;
  $("detail-meta").textContent = [`created ${when(s.created_at)}`, s.started_at && `started ${when(s.started_at)}`,
    s.finished_at && `finished ${when(s.finished_at)}`, s.sender && `sender ${s.sender}`,
    s.rate_limit_per_second && `limit ${s.rate_limit_per_second}/s`,
    s.scheduled_for && `starts ${when(s.scheduled_for)}`,
    s.waiting_for_window && `waiting for the sending window (opens ${when(s.window_opens_at)})`,
  ].filter(Boolean).join(" · ");
  Object.assign($("detail-status"), {className: `badge status-${s.status}`,
    textContent: s.paused_reason ? `${s.status} (${s.paused_reason})` : s.status});
  for (const [action, from] of Object.entries(ALLOWED)) $(`btn-${action}`).disabled = !from.includes(s.status);
  renderProgress(s.counts);
  const open = s.counts.pending + s.counts.processing;
  $("stat-rate").textContent = `${s.send_rate_per_second} msg/s`;
  $("stat-eta").textContent = !open ? (s.status === "cancelled" ? "—" : "done")
    : s.status === "paused" ? "paused" : s.eta_seconds === null ? "—" : duration(s.eta_seconds);
  $("stat-cost").textContent = s.cost;
  $("stat-recipients").textContent = `${fmt(s.accepted)} accepted · ${fmt(s.rejected)} rejected · `
    + `${fmt(s.duplicates)} duplicates`;
  $("status-counts").replaceChildren(...Object.entries(s.counts).map(([status, n]) =>
    el("tr", {}, el("th", {}, el("span", {class: `dot count-${status}`}), status), el("td", {}, fmt(n)))));
  $("carrier-counts").replaceChildren(...Object.entries(s.carriers).map(([name, c]) => el("tr", {},
    el("th", {}, name), ...[c.total, c.accepted, (c.pending || 0) + (c.processing || 0), c.delivered || 0,
      (c.failed || 0) + (c.unreachable || 0)].map((n) => el("td", {}, fmt(n))), el("td", {}, c.cost))));
}

/** The stacked progress bar, its label and legend. */
function renderProgress(counts) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const parts = SEGMENTS.map(([name, statuses]) => [name, statuses.reduce((sum, st) => sum + counts[st], 0)]);
  $("progress").replaceChildren(...parts.filter(([, n]) => n > 0).map(([name, n]) => {
    const segment = el("span", {class: `segment seg-${name}`, title: `${name}: ${fmt(n)}`});
    segment.style.width = `${(100 * n) / total}%`;
    return segment;
  }));
  const finished = total - counts.pending - counts.processing;
  const percent = total ? Math.floor((100 * finished) / total) : 0;
  $("progress").setAttribute("aria-valuenow", String(percent));
  $("progress-label").textContent = `${percent}% · ${fmt(finished)} of ${fmt(total)} finished · `
    + `${fmt(total - finished)} to send`;
  $("progress-legend").replaceChildren(...parts.map(([name, n]) =>
    el("span", {class: "legend-item"}, el("span", {class: `dot seg-${name}`}), `${LEGEND[name] || name} ${fmt(n)}`)));
}

/** Append one SVG element with the given attributes and optional text. */
function svg(parent, tag, attrs, label) {
  const node = parent.appendChild(document.createElementNS(SVG_NS, tag));
  Object.entries(attrs).forEach(([name, value]) => node.setAttribute(name, String(value)));
  node.textContent = label === undefined ? "" : label;
}

/** The send rate over the chart window: a line over a shaded area, with a rounded y scale. */
function drawChart(points, now) {
  const chart = $("rate-chart");
  // One SVG unit per CSS pixel, so the plot fills the panel and labels keep their size at any width.
  const [width, height] = [chart.clientWidth || 640, chart.clientHeight || 200];
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  chart.replaceChildren();
  const [left, right, top, bottom] = [44, width - 16, 12, height - 26];
  const peak = Math.max(0, ...points.map((p) => p.rate));
  const step = 10 ** Math.floor(Math.log10(Math.max(1, peak)));
  const ceiling = Math.max(1, Math.ceil(peak / step) * step);
  const x = (t) => right - ((now - t) / CHART_WINDOW_MS) * (right - left);
  const y = (rate) => bottom - (rate / ceiling) * (bottom - top);
  for (const value of [0, ceiling / 2, ceiling]) {
    svg(chart, "line", {x1: left, x2: right, y1: y(value), y2: y(value), class: "gridline"});
    svg(chart, "text", {x: left - 6, y: y(value) + 4, class: "axis end"}, fmt(value));
  }
  for (let minute = 5; minute >= 0; minute -= 1) {
    svg(chart, "text", {x: x(now - minute * 60000), y: bottom + 18, class: minute ? "axis middle" : "axis end"},
        minute ? `−${minute} min` : "now");
  }
  const latest = points.length ? points[points.length - 1].rate : 0;
  $("chart-caption").textContent = `last 5 s ${fmt(latest)} msg/s · peak ${fmt(peak)} msg/s`;
  if (points.length < 2) return;
  const line = points.map((p) => `${x(p.t).toFixed(1)},${y(p.rate).toFixed(1)}`).join(" L");
  svg(chart, "path", {d: `M${x(points[0].t).toFixed(1)},${bottom} L${line} L${x(now).toFixed(1)},${bottom} Z`,
                      class: "area"});
  svg(chart, "path", {d: `M${line}`, class: "line"});
}

/** Fill a table body with one row of cells per item, and show its empty note when there are none. */
function fillTable(body, emptyNote, items, cells) {
  emptyNote.hidden = items.length > 0;
  body.replaceChildren(...items.map((item) => el("tr", {},
    ...cells(item).map((cell) => (cell instanceof Node ? cell : el("td", {}, cell))))));
}

/** The selected broadcast's audit log, newest first. */
function refreshAudit() {
  return forSelected((id) => `/v1/broadcasts/${id}/audit`, ({audit}) => fillTable($("audit-rows"), $("audit-empty"),
    audit.slice().reverse(), (e) => [when(e.at), e.actor, e.action,
      e.from_status || e.to_status ? `${text(e.from_status)} → ${text(e.to_status)}` : "—", e.reason]));
}

/** The selected broadcast's open dead letters, each with requeue and discard buttons. */
function refreshDeadLetters() {
  return forSelected((id) => `/v1/dead-letters?limit=100&broadcast_id=${id}`, (page) => {
    $("dead-letters-more").hidden = page.next_after === null;
    fillTable($("dead-letter-rows"), $("dead-letters-empty"), page.dead_letters, (d) => [
      d.id, d.recipient, d.carrier, d.reason,
      d.error_detail ? `${text(d.error_code)}: ${d.error_detail}` : d.error_code, d.attempts, when(d.created_at),
      el("td", {class: "actions"},
        el("button", {type: "button", class: "small", onclick: () => resolveDeadLetter(d.id, "requeue")}, "Requeue"),
        el("button", {type: "button", class: "small danger", onclick: () => resolveDeadLetter(d.id, "discard")},
           "Discard"))]);
  });
}

/** Every quota the service sends under, as meters. */
async function refreshQuotas() {
  const {quotas} = await api("GET", "/v1/quotas");
  $("quotas-empty").hidden = quotas.length > 0;
  $("quota-list").replaceChildren(...quotas.map((q) => {
    const fill = el("span", {class: q.remaining ? "meter-fill" : "meter-fill full"});
    fill.style.width = `${q.limit ? Math.min(100, (100 * q.used) / q.limit) : 100}%`;
    return el("div", {class: "quota"},
      el("div", {class: "quota-head"}, el("strong", {}, q.scope), el("span", {}, `${fmt(q.used)} / ${fmt(q.limit)}`)),
      el("div", {class: "meter"}, fill),
      el("div", {class: "muted"}, `${fmt(q.remaining)} left · resets ${when(q.resets_at)}`));
  }));
}

/** POST an operator verb; a refusal (409 and the like) shows the server's own message. */
async function act(path, notice, done, refreshers) {
  try {
    notify(notice, done(await api("POST", path)), false);
  } catch (error) {
    notify(notice, error.message, true);
  }
  await Promise.all(refreshers.map((refresh) => refresh())).catch(() => {});
}

/** Pause, resume or cancel the selected broadcast (cancel asks first). */
function lifecycle(action) {
  const question = "Cancel this broadcast for good? Unsent messages will not be sent.";
  if (action === "cancel" && !window.confirm(question)) return;
  act(`/v1/broadcasts/${encodeURIComponent(state.selected)}/${action}`, $("action-message"),
      (b) => `Broadcast is now ${b.status}.`, [refreshSummary, refreshAudit, refreshBroadcasts]);
}

/** Requeue or discard one dead letter (discard asks first). */
function resolveDeadLetter(id, action) {
  if (action === "discard" && !window.confirm(`Discard dead letter ${id}? Its message stays failed.`)) return;
  act(`/v1/dead-letters/${encodeURIComponent(id)}/${action}`, $("dead-letter-message"),
      (r) => `Dead letter ${r.id} ${r.resolution}.`, [refreshDeadLetters, refreshSummary, refreshAudit]);
}

/** A plain link cannot carry the bearer key, so fetch the CSV and hand it to the browser as a file. */
async function downloadReport(event) {
  event.preventDefault();
  const link = event.currentTarget;
  try {
    const url = URL.createObjectURL(await api("GET", link.getAttribute("href"), "blob"));
    el("a", {href: url, download: link.getAttribute("download")}).click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    notify($("action-message"), `Report: ${error.message}`, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  adoptFragmentKey();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    $("key-input").value = "";
    if (key) connect(key);
  });
  $("forget-key").addEventListener("click", () => disconnect(""));
  $("refresh-broadcasts").addEventListener("click", () => refreshBroadcasts().catch(() => {}));
  for (const action of Object.keys(ALLOWED)) $(`btn-${action}`).addEventListener("click", () => lifecycle(action));
  $("report-link").addEventListener("click", downloadReport);
  const saved = sessionStorage.getItem(KEY_STORAGE);
  return saved ? connect(saved) : disconnect("");
});
