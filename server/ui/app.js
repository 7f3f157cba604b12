// ringq dashboard. Plain JavaScript, no build step, no external request: everything comes
// from this server's /api/v1/ (docs/http-api.md). Text from the server (queue names, payloads,
// errors) only ever reaches the page as textContent or attribute values: never as HTML.
"use strict";

const API = "/api/v1/";
const REFRESH_MS = 2000;
const STATES = ["", "ready", "delayed", "leased", "dead"];
const QUEUES_OLDEST_MAX = 50; // queues whose oldest ready task is looked up per refresh
const WORKER_PAGES_MAX = 20; // pages of 1000 Work streams the workers view lists
let server = null; // GET /api/v1/server
let view = null; // the mounted view: {refresh()}
let timer = null;
let sortKey = "name", sortAsc = true;

// ---- DOM helpers: text as text nodes, attributes as attributes ----
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k.startsWith("data-")) e.setAttribute(k, String(v));
    else e[k] = v;
  }
  for (const c of kids.flat()) if (c !== null && c !== undefined)
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}
const $ = (sel) => document.querySelector(sel);
function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
// Replaces e's children with kids (null and undefined left out: append would write "null").
function fill(e, ...kids) { clear(e).append(...kids.flat().filter((k) => k !== null && k !== undefined)); return e; }

// ---- formatting ----
function fmtInt(n) { return Number(n || 0).toLocaleString("en-US"); }
function fmtRate(n) { return Number(n || 0).toFixed(1); }
function fmtBytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; n = Number(n || 0);
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + u[i];
}
function fmtDur(s) {
  s = Math.max(0, Math.floor(s));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
}
function fmtTime(ms) { return ms ? new Date(Number(ms)).toLocaleTimeString() : "-"; }
// A payload preview: its bytes as UTF-8 text (shown with textContent, so markup stays text).
function preview(b64) {
  let s;
  try { s = new TextDecoder("utf-8").decode(Uint8Array.from(atob(b64 || ""), (c) => c.charCodeAt(0))); }
  catch (e) { s = "(binary)"; }
  return s.length > 500 ? s.slice(0, 500) + "…" : s;
}

// ---- the API ----
async function api(path, opts) {
  const o = Object.assign({ headers: {} }, opts || {});
  const token = sessionStorage.getItem("ringq-token");
  // Under --auth-file every request carries the pasted token (docs/security.md).
  if (token) o.headers["Authorization"] = "Bearer " + token;
  if (o.method && o.method !== "GET") {
    // The custom header is the CSRF defence (and carries the --admin-token when one is set).
    o.headers["X-Ringq-Token"] = token || "loopback";
    if (o.body !== undefined) o.headers["Content-Type"] = "application/json";
  }
  const r = await fetch(API + path, o);
  const j = await r.json().catch(() => ({ code: "UNKNOWN", message: "HTTP " + r.status }));
  if (r.status === 401) showTokenBox();
  if (!r.ok) throw new Error((j.code || r.status) + ": " + (j.message || ""));
  return j;
}
// The token field: shown when the server wants a token (--admin-token, --auth-file) or
// answered 401; what is typed is kept for this tab only (sessionStorage).
function showTokenBox() {
  const box = $("#token-box");
  if (!box.classList.contains("hidden")) return;
  box.classList.remove("hidden");
  const t = $("#token");
  t.value = sessionStorage.getItem("ringq-token") || "";
  t.addEventListener("change", () => { sessionStorage.setItem("ringq-token", t.value); loadServer(); });
}
const q = encodeURIComponent;
async function allQueues() {
  let out = [], tok = "";
  for (let i = 0; i < 20; i++) { // at most 20 pages of 1000
    const r = await api("queues?page_size=1000" + (tok ? "&page_token=" + q(tok) : ""));
    out = out.concat(r.queues || []);
    tok = r.next_page_token;
    if (!tok) break;
  }
  return out;
}
function flash(msg, err) {
  const f = $("#flash");
  f.textContent = msg;
  f.className = "flash" + (err ? " err" : "");
  clearTimeout(flash.t);
  flash.t = setTimeout(() => f.classList.add("hidden"), 6000);
}
async function act(what, path, body, method) {
  try {
    const r = await api(path, { method: method || "POST", body: body === undefined ? undefined : JSON.stringify(body) });
    flash(what + ": done" + (r.purged !== undefined ? " (" + r.purged + " purged)" : "") +
      (r.redriven !== undefined ? " (" + r.redriven + " redriven)" : ""));
  } catch (e) { flash(what + ": " + e.message, true); }
  refresh();
}
const readOnly = () => server && server.ui === "read-only";
function actBtn(label, title, fn, danger) {
  return el("button", { class: "act" + (danger ? " danger" : ""), type: "button", title, "data-act": label, on: { click: fn } }, label);
}

// ---- charts: SVG polylines of the last 15 minutes, one point per second ----
function chart(title, series, cls) {
  const W = 300, H = 80, n = series.length, max = Math.max(1, ...series);
  const pts = series.map((v, i) => (i * W / Math.max(1, n - 1)).toFixed(1) + "," + (H - v / max * (H - 12)).toFixed(1)).join(" ");
  const s = svg("svg", { viewBox: `0 0 ${W} ${H + 2}`, preserveAspectRatio: "none", role: "img", "aria-label": title });
  s.append(svg("line", { x1: 0, y1: H, x2: W, y2: H, class: "axis" }));
  s.append(svg("polyline", { points: pts, class: "line " + cls }));
  const t = svg("text", { x: 2, y: 10, class: "lbl" }); t.textContent = "max " + fmtInt(max) + "/s";
  s.append(t);
  const last = series.slice(-10).reduce((a, b) => a + b, 0) / 10;
  return el("div", { class: "chart", "data-chart": cls },
    el("h3", {}, title, " ", el("span", { class: "muted" }, fmtRate(last) + "/s (10 s)")), s);
}
function charts(r) {
  return el("div", { class: "charts" },
    chart("Enqueued per second", r.enqueued, "s-enq"),
    chart("Acked per second", r.acked, "s-ack"),
    chart("Failed per second (nacks, expired leases)", r.failed, "s-fail"));
}
function card(k, v, f) { return el("div", { class: "card" }, el("div", { class: "k" }, k), el("div", { class: "v", "data-f": f }, v)); }

// ---- views ----
function overview(root) {
  const cards = el("div", { class: "cards" }), ch = el("div");
  root.append(el("h1", {}, "Overview"), cards, ch);
  return { async refresh() {
    const [s, qs, r] = await Promise.all([api("server"), allQueues(), api("rates")]);
    server = s;
    const sum = (k) => qs.reduce((a, x) => a + Number(x[k] || 0), 0);
    clear(cards).append(
      card("Version", s.version, "version"), card("Uptime", fmtDur(s.uptime_s), "uptime"),
      card("fsync", s.fsync, "fsync"), card("Disk", fmtBytes(s.disk_bytes), "disk"),
      card("Queues", fmtInt(qs.length), "queues"), card("Ready", fmtInt(sum("ready")), "ready"),
      card("Delayed", fmtInt(sum("delayed")), "delayed"), card("Leased", fmtInt(sum("leased")), "leased"),
      card("Dead", fmtInt(sum("dead")), "dead"), card("Enqueued", fmtInt(sum("enqueued_total")), "enqueued_total"),
      card("Acked", fmtInt(sum("acked_total")), "acked_total"));
    fill(ch, charts(r));
  } };
}

const COLS = [["name", "Queue"], ["ready", "Ready"], ["delayed", "Delayed"], ["leased", "Leased"],
  ["dead", "Dead"], ["oldest", "Oldest ready"], ["enqueue_rate", "Enq/s"], ["ack_rate", "Ack/s"], ["paused", "State"]];
const HIDE_SM = new Set(["delayed", "oldest", "enqueue_rate", "ack_rate"]); // phone: fewer columns
function queueRow(x) {
  const num = (f, v) => el("td", { class: "num" + (HIDE_SM.has(f) ? " hide-sm" : ""), "data-f": f }, v);
  const acts = el("td", { class: "act-cell" },
    x.paused ? actBtn("Resume", "Resume " + x.name, () => act("Resume " + x.name, "queues/" + q(x.name) + "/resume"))
      : actBtn("Pause", "Pause " + x.name, () => act("Pause " + x.name, "queues/" + q(x.name) + "/pause")),
    " ", actBtn("Purge", "Purge " + x.name, () => {
      if (confirm("Purge every ready and delayed task of " + x.name + "?")) act("Purge " + x.name, "queues/" + q(x.name) + "/purge");
    }, true));
  return el("tr", { "data-q": x.name },
    el("td", { "data-f": "name" }, el("a", { href: "#/queue/" + q(x.name) }, x.name)),
    num("ready", fmtInt(x.ready)), num("delayed", fmtInt(x.delayed)), num("leased", fmtInt(x.leased)),
    num("dead", fmtInt(x.dead)), num("oldest", x.oldest === undefined ? "-" : fmtDur(x.oldest)),
    num("enqueue_rate", fmtRate(x.enqueue_rate)), num("ack_rate", fmtRate(x.ack_rate)),
    el("td", { "data-f": "paused" }, x.paused ? el("span", { class: "badge paused" }, "paused") : "active"), acts);
}
async function oldestReady(qs) {
  const now = Date.now();
  await Promise.all(qs.slice(0, QUEUES_OLDEST_MAX).map(async (x) => {
    if (!Number(x.ready)) return;
    try {
      const r = await api("queues/" + q(x.name) + "/tasks?limit=1&state=1");
      if (r.tasks && r.tasks.length) x.oldest = (now - Number(r.tasks[0].enqueued_unix_ms)) / 1000;
    } catch (e) { /* gone meanwhile */ }
  }));
}
function queues(root) {
  const tb = el("tbody"), head = el("tr");
  for (const [k, label] of COLS) {
    head.append(el("th", { class: "sortable" + (k === "name" || k === "paused" ? "" : " num") + (HIDE_SM.has(k) ? " hide-sm" : ""), "data-sort": k,
      on: { click: () => { sortAsc = sortKey === k ? !sortAsc : true; sortKey = k; refresh(); } } }, label));
  }
  head.append(el("th", { class: "act" }, ""));
  root.append(el("h1", {}, "Queues"), el("div", { class: "table-wrap" }, el("table", { id: "queues" }, el("thead", {}, head), tb)));
  return { async refresh() {
    const qs = await allQueues();
    await oldestReady(qs);
    const key = (x) => sortKey === "name" ? x.name : sortKey === "paused" ? (x.paused ? 1 : 0) : Number(x[sortKey] === undefined ? -1 : x[sortKey]);
    qs.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0) * (sortAsc ? 1 : -1));
    for (const th of head.querySelectorAll("th[data-sort]")) {
      th.classList.toggle("sorted", th.dataset.sort === sortKey);
      th.classList.toggle("asc", th.dataset.sort === sortKey && sortAsc);
    }
    clear(tb).append(...qs.map(queueRow));
    if (!qs.length) tb.append(el("tr", {}, el("td", { colSpan: 10, class: "muted" }, "No queues yet.")));
  } };
}

function taskTable(tasks, withState, selectable, selected) {
  const head = el("tr", {}, selectable ? el("th", { class: "act" }, "") : null, el("th", {}, "Id"),
    withState ? el("th", {}, "State") : null, el("th", { class: "num" }, "Attempts"),
    el("th", { class: "hide-sm" }, "Enqueued"), el("th", {}, selectable ? "Reason" : "Payload"));
  const rows = tasks.map((t) => el("tr", { "data-id": t.id },
    selectable ? el("td", { class: "act" }, el("input", { type: "checkbox", checked: selected.has(t.id),
      "data-select": t.id, on: { change: (e) => e.target.checked ? selected.add(t.id) : selected.delete(t.id) } })) : null,
    el("td", { "data-f": "id" }, t.id), withState ? el("td", {}, STATES[t.state] || t.state) : null,
    el("td", { class: "num" }, t.attempts + "/" + t.max_attempts),
    el("td", { class: "hide-sm" }, fmtTime(t.enqueued_unix_ms)),
    el("td", { class: "wrap" }, selectable ? el("span", { "data-f": "reason" }, t.last_error || "-")
      : el("pre", { class: "payload", "data-f": "payload" }, preview(t.payload)))));
  return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, rows)));
}
function queueView(root, name) {
  const selected = new Set();
  const figs = el("div", { class: "cards" }), ch = el("div"), cfg = el("div"), next = el("div"),
    leases = el("div"), dead = el("div"), acts = el("div", { class: "actions" }), found = el("div");
  const idIn = el("input", { type: "text", placeholder: "task id, e.g. 3-17", id: "lookup-id" });
  const lookup = el("form", { class: "actions", id: "lookup", on: { submit: async (e) => {
    e.preventDefault();
    try { const t = await api("tasks/" + q(idIn.value.trim())); clear(found).append(taskTable([t], true, false)); }
    catch (err) { clear(found).append(el("p", { class: "flash err" }, err.message)); }
  } } }, idIn, el("button", { type: "submit" }, "Look up"));
  const base = "queues/" + q(name);
  root.append(el("h1", {}, "Queue ", el("span", { id: "qname" }, name)), acts, figs, ch,
    el("h2", {}, "Configuration"), cfg, el("h2", {}, "Next tasks"), next, el("h2", {}, "Leases"), leases,
    el("h2", {}, "Dead tasks"),
    el("div", { class: "actions" },
      actBtn("Redrive selected", "Redrive the selected dead tasks", () => {
        if (selected.size) act("Redrive", base + "/redrive", { ids: [...selected] }).then(() => selected.clear());
      }),
      actBtn("Redrive all", "Redrive every dead task", () => {
        if (confirm("Redrive every dead task of " + name + "?")) act("Redrive all", base + "/redrive", {});
      }),
      actBtn("Delete selected", "Delete the selected dead tasks", async () => {
        if (!selected.size || !confirm("Delete " + selected.size + " dead task(s)?")) return;
        for (const id of selected) await act("Delete " + id, "tasks/" + q(id), undefined, "DELETE");
        selected.clear();
      }, true)),
    dead, el("h2", {}, "Find a task"), lookup, found);
  return { async refresh() {
    const [x, r, p, l, d] = await Promise.all([api(base), api("rates/" + q(name)).catch(() => null),
      api(base + "/tasks?limit=20"), api(base + "/leases"), api(base + "/dead?page_size=100")]);
    clear(acts).append(
      x.paused ? actBtn("Resume", "Resume", () => act("Resume", base + "/resume"))
        : actBtn("Pause", "Pause", () => act("Pause", base + "/pause")),
      actBtn("Purge", "Purge ready and delayed tasks", () => { if (confirm("Purge " + name + "?")) act("Purge", base + "/purge"); }, true),
      actBtn("Delete queue", "Delete the queue", () => {
        if (confirm("Delete queue " + name + " and all its tasks?")) act("Delete", base + "?force=true", undefined, "DELETE").then(() => { location.hash = "#/queues"; });
      }, true));
    clear(figs).append(card("State", x.paused ? "paused" : "active", "paused"), card("Ready", fmtInt(x.ready), "ready"),
      card("Delayed", fmtInt(x.delayed), "delayed"), card("Leased", fmtInt(x.leased), "leased"),
      card("Dead", fmtInt(x.dead), "dead"), card("Enqueued", fmtInt(x.enqueued_total), "enqueued_total"),
      card("Acked", fmtInt(x.acked_total), "acked_total"), card("Partition", x.partition, "partition"));
    fill(ch, r ? charts(r) : el("p", { class: "muted" }, "No chart yet (a queue is charted from its first full second)."));
    const c = x.config || {};
    clear(cfg).append(el("dl", { class: "cfg" }, ...Object.keys(c).flatMap((k) => [el("dt", {}, k), el("dd", { "data-cfg": k }, String(c[k]))])));
    fill(next, p.tasks.length ? taskTable(p.tasks, true, false) : el("p", { class: "muted" }, "Nothing ready or delayed."),
      p.more ? el("p", { class: "muted" }, "More tasks follow.") : null);
    fill(leases, l.leases.length ? el("div", { class: "table-wrap" }, el("table", { id: "leases" },
      el("thead", {}, el("tr", {}, el("th", {}, "Task"), el("th", {}, "Holder"), el("th", { class: "hide-sm" }, "Address"),
        el("th", { class: "num" }, "Attempt"), el("th", {}, "Deadline"))),
      el("tbody", {}, l.leases.map((x2) => el("tr", { "data-id": x2.id }, el("td", {}, x2.id),
        el("td", { "data-f": "holder" }, x2.worker_id || "(unary Lease)"), el("td", { class: "hide-sm" }, x2.address || "-"),
        el("td", { class: "num" }, x2.attempt), el("td", { "data-f": "deadline" }, fmtTime(x2.deadline_unix_ms)))))))
      : el("p", { class: "muted" }, "No live leases."));
    for (const id of [...selected]) if (!d.tasks.some((t) => t.id === id)) selected.delete(id);
    fill(dead, d.tasks.length ? el("div", { id: "dead" }, taskTable(d.tasks, false, true, selected))
      : el("p", { class: "muted", id: "dead" }, "No dead tasks."));
  } };
}

function workers(root) {
  const body = el("div");
  root.append(el("h1", {}, "Workers"),
    el("p", { class: "muted" }, "Connected Work streams (by their ringq-worker-id, else their address): the queues each subscribed to, credits left (tasks the server may still send it) and tasks in flight (delivered, not yet acked or nacked)."),
    body);
  return { async refresh() {
    let ws = [], tok = "";
    for (let i = 0; i < WORKER_PAGES_MAX; i++) {
      const r = await api("workers?page_size=1000" + (tok ? "&page_token=" + q(tok) : ""));
      ws = ws.concat(r.workers || []);
      tok = r.next_page_token;
      if (!tok) break;
    }
    fill(body, ws.length ? el("div", { class: "table-wrap" }, el("table", { id: "workers" },
      el("thead", {}, el("tr", {}, el("th", {}, "Worker"), el("th", { class: "hide-sm" }, "Address"), el("th", {}, "Queues"),
        el("th", { class: "num" }, "Credits"), el("th", { class: "num" }, "In flight"), el("th", { class: "hide-sm" }, "Connected"))),
      el("tbody", {}, ws.map((w) => el("tr", { "data-worker": w.worker_id }, el("td", {}, w.worker_id),
        el("td", { class: "hide-sm" }, w.address || "-"),
        el("td", { class: "wrap", "data-f": "queues" }, (w.queues || []).join(", ")),
        el("td", { class: "num", "data-f": "credits" }, w.credits),
        el("td", { class: "num", "data-f": "inflight" }, w.in_flight),
        el("td", { class: "hide-sm" }, fmtTime(w.connected_unix_ms)))))))
      : el("p", { class: "muted" }, "No Work stream is connected."));
  } };
}

// Streams (ringq.v1.Streams): each stream's figures and its consumers with their lag.
const STREAMS_MAX = 50; // streams whose consumers are listed per refresh
function streams(root) {
  const body = el("div");
  root.append(el("h1", {}, "Streams"), body);
  return { async refresh() {
    let list = [], tok = "";
    for (let i = 0; i < 20; i++) {
      const r = await api("streams?page_size=1000" + (tok ? "&page_token=" + q(tok) : ""));
      list = list.concat(r.streams || []);
      tok = r.next_page_token;
      if (!tok) break;
    }
    const cons = await Promise.all(list.slice(0, STREAMS_MAX).map((s) =>
      api("streams/" + q(s.config.name) + "/consumers").then((r) => r.consumers || []).catch(() => [])));
    const num = (f, v) => el("td", { class: "num", "data-f": f }, fmtInt(v));
    fill(body, list.length ? list.map((s, i) => {
      const st = s.state || {}, name = s.config.name;
      return el("section", { "data-stream": name },
        el("h2", {}, name, " ", el("span", { class: "muted" }, (s.config.subjects || []).join(", "))),
        el("div", { class: "cards" }, card("Messages", fmtInt(st.messages), "messages"),
          card("Bytes", fmtBytes(st.bytes), "bytes"), card("First seq", fmtInt(st.first_seq), "first_seq"),
          card("Last seq", fmtInt(st.last_seq), "last_seq"), card("Subjects", fmtInt(st.num_subjects), "num_subjects"),
          card("Consumers", fmtInt(st.consumers), "consumers")),
        i < STREAMS_MAX && cons[i].length ? el("div", { class: "table-wrap" }, el("table", {},
          el("thead", {}, el("tr", {}, el("th", {}, "Consumer"), el("th", { class: "num" }, "Lag"),
            el("th", { class: "num" }, "Ack pending"), el("th", { class: "num hide-sm" }, "Redelivered"),
            el("th", { class: "num hide-sm" }, "Delivered seq"), el("th", { class: "num" }, "Clients"), el("th", {}, "State"))),
          el("tbody", {}, cons[i].map((c) => {
            const cs = c.state || {};
            const paused = Number(cs.paused_until_unix_ms) > Date.now();
            return el("tr", { "data-consumer": c.config.name }, el("td", {}, c.config.name),
              num("num_pending", cs.num_pending), num("num_ack_pending", cs.num_ack_pending),
              el("td", { class: "num hide-sm" }, fmtInt(cs.num_redelivered)),
              el("td", { class: "num hide-sm" }, fmtInt(cs.delivered_stream_seq)), num("clients", cs.clients),
              el("td", {}, paused ? el("span", { class: "badge paused" }, "paused") : "active"));
          }))))
          : el("p", { class: "muted" }, "No consumers."));
    }) : el("p", { class: "muted" }, "No streams yet."));
  } };
}

// ---- routing and refresh ----
async function refresh() {
  if (!view) return;
  // Stamp ready only for the view still mounted: a refresh of the view left behind (in flight
  // when the route changed) must not say the new one is filled.
  const v = view;
  try { await v.refresh(); if (v === view) document.body.dataset.ready = String(Date.now()); }
  catch (e) { flash(e.message, true); }
  document.body.classList.toggle("read-only", readOnly());
}
function route() {
  const h = location.hash || "#/";
  const root = clear($("#view"));
  let name = "overview";
  if (h.startsWith("#/queue/")) { name = "queues"; view = queueView(root, decodeURIComponent(h.slice(8))); }
  else if (h === "#/queues") { name = "queues"; view = queues(root); }
  else if (h === "#/workers") { name = "workers"; view = workers(root); }
  else if (h === "#/streams") { name = "streams"; view = streams(root); }
  else view = overview(root);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === name);
  delete document.body.dataset.ready;
  refresh();
}
async function loadServer() {
  try { server = await api("server"); } catch (e) { flash(e.message, true); }
  if (server) {
    document.body.classList.toggle("read-only", readOnly()); // CSS hides every .act
    $("#mode").textContent = "v" + server.version + (server.ui === "read-only" ? " · read-only" : "");
    if (server.token_required && (server.ui !== "read-only" || server.auth_file)) showTokenBox();
  }
  refresh();
}
async function start() {
  await loadServer();
  window.addEventListener("hashchange", route);
  route();
  timer = setInterval(refresh, REFRESH_MS);
}
document.addEventListener("DOMContentLoaded", start);
