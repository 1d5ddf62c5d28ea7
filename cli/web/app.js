// tracker serve: the board page. Plain JavaScript, no build step, no request
// leaves this server. Story text is never put into the page as HTML: it is set as
// text, or escaped before the little markdown below adds its own tags.
"use strict";

const token = document.querySelector('meta[name="tracker-token"]').content;
const $ = (sel) => document.querySelector(sel);
let board = null; // the last /api/board answer
let focused = null; // the id of the card with the keyboard focus
let movingId = null; // `m` was pressed on this card: an arrow now moves it
let loadSeq = 0; // answers of older loads that arrive late are dropped

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function notice(text, error) {
  const n = $("#notice");
  n.textContent = text;
  n.className = error ? "error" : "";
  n.hidden = !text;
}

async function api(path, options = {}) {
  options.headers = Object.assign({ "X-Tracker-Token": token }, options.headers || {});
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch (e) { body = { error: res.statusText }; }
  if (!res.ok) throw Object.assign(new Error(body.error || res.statusText), { status: res.status, body });
  return body;
}

function write(path, etag, payload) {
  const headers = { "Content-Type": "application/json" };  // api() adds the token
  if (etag) headers["If-Match"] = '"' + etag + '"';
  return api(path, { method: "POST", headers, body: JSON.stringify(payload) });
}

// A parent's progress, "1/2 done", as the CLI says it (progress_text).
function progressText(p) {
  return p.done + "/" + p.total + " done";
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 3600) return Math.max(0, Math.floor(seconds / 60)) + "m";
  if (seconds < 86400) return Math.floor(seconds / 3600) + "h";
  return Math.floor(seconds / 86400) + "d";
}

// --- filters, kept in the URL ---------------------------------------------------
const filterKeys = ["q", "label", "type", "agent"];
function readFilters() {
  const p = new URLSearchParams(location.search);
  for (const k of filterKeys) $("#f-" + k).value = p.get(k) || "";
}
function filterQuery() {
  const p = new URLSearchParams();
  for (const k of filterKeys) if ($("#f-" + k).value) p.set(k, $("#f-" + k).value);
  return p.toString();
}
function filtersChanged() {
  const q = filterQuery();
  history.replaceState(null, "", (q ? "?" + q : location.pathname) + location.hash);
  load();
}

// --- the board --------------------------------------------------------------------
async function load() {
  const seq = ++loadSeq;
  let answer;
  try {
    answer = await api("/api/board?" + filterQuery());
  } catch (e) {
    if (seq === loadSeq) notice("cannot read the board: " + e.message, true);
    return;
  }
  if (seq !== loadSeq) return; // a newer load is on its way
  board = answer;
  const types = $("#f-type");
  if (types.options.length === 1)
    for (const t of board.types) { types.append(el("option", { value: t }, t)); $("#create-form [name=type]").append(el("option", { value: t }, t)); }
  if (types.value !== new URLSearchParams(location.search).get("type") && !types.dataset.read) {
    types.value = new URLSearchParams(location.search).get("type") || ""; // the options exist now
    types.dataset.read = "1";
  }
  render();
}

function card(s) {
  const meta = el("div", { class: "meta" },
    el("span", { class: "type" }, s.type),
    s.priority !== null ? el("span", {}, "P" + s.priority) : null,
    ...s.labels.map((l) => el("span", { class: "label" }, l)),
    s.agent ? el("span", { class: "agent" }, "@" + s.agent) : null,
    s.claim ? el("span", { class: "claim", title: "claimed until " + s.claim.expires }, "until " + s.claim.expires.slice(11, 16)) : null,
    s.blocked ? el("span", { class: "blocked-mark" }, "blocked") : null,
    s.parent ? el("span", { class: "parent", title: "part of #" + s.parent }, "in #" + s.parent) : null,
    s.progress ? el("span", { class: "progress", title: "children done" }, progressText(s.progress)) : null,
    s.age_seconds !== null ? el("span", { class: "age" }, age(s.age_seconds)) : null);
  const c = el("article", { class: "card" + (s.blocked ? " blocked" : ""), tabindex: "0", draggable: "true",
                            "data-id": String(s.id), "data-stage": s.stage },
    el("div", {}, el("span", { class: "id" }, "#" + s.id), " ", el("span", { class: "name" }, s.name)), meta);
  c.addEventListener("click", () => openDetail(s.id));
  c.addEventListener("dragstart", (ev) => { ev.dataTransfer.setData("text/plain", String(s.id)); });
  c.addEventListener("focus", () => { focused = s.id; });
  return c;
}

function render() {
  const main = $("#board");
  // A card keeps the focus across a re-render only if it had it: a live update must
  // not take the focus from a filter or a form the user is typing in.
  const keepFocus = focused !== null && main.contains(document.activeElement);
  main.replaceChildren();
  for (const st of board.stages) {
    const col = el("section", { class: "column", "data-stage": st.name },
      el("h2", {}, el("span", {}, st.name), el("span", { class: "count" }, String(st.stories.length))));
    for (const s of st.stories) col.append(card(s));
    col.addEventListener("dragover", (ev) => { ev.preventDefault(); col.classList.add("drop"); });
    col.addEventListener("dragleave", () => col.classList.remove("drop"));
    col.addEventListener("drop", (ev) => {
      ev.preventDefault();
      col.classList.remove("drop");
      move(Number(ev.dataTransfer.getData("text/plain")), st.name);
    });
    main.append(col);
  }
  if (keepFocus) {
    const c = main.querySelector('.card[data-id="' + focused + '"]');
    if (c) c.focus();
  }
}

async function move(id, stage) {
  try {
    const { etag } = await api("/api/story/" + id);
    const r = await write("/api/story/" + id + "/move", etag, { stage });
    notice(r.moved.length ? "moved #" + id + " " + r.moved[0].from + " -> " + r.moved[0].to : "", false);
  } catch (e) {
    notice("#" + id + " was not moved: " + e.message, true);
  }
  await load();
}

// Keyboard: arrows move the focus between cards and columns; `m`, then an arrow,
// moves the focused card to the column on that side.
document.addEventListener("keydown", (ev) => {
  if (ev.target.closest("input, textarea, select, dialog") || !board || $("#board").hidden) return;
  const cols = [...document.querySelectorAll(".column")];
  if (movingId !== null && (ev.key === "ArrowLeft" || ev.key === "ArrowRight")) {
    const c = document.querySelector('.card[data-id="' + movingId + '"]');
    const id = movingId;
    movingId = null;
    ev.preventDefault();
    if (!c) return;
    const target = cols[cols.indexOf(c.closest(".column")) + (ev.key === "ArrowLeft" ? -1 : 1)];
    if (target) move(id, target.dataset.stage);
    return;
  }
  movingId = null;
  const cur = document.activeElement.closest ? document.activeElement.closest(".card") : null;
  if (ev.key === "m" && cur) { movingId = Number(cur.dataset.id); notice("move #" + movingId + ": left or right arrow", false); return; }
  if (!cur) {
    if (ev.key.startsWith("Arrow")) { const first = document.querySelector(".card"); if (first) first.focus(); }
    return;
  }
  const col = cur.closest(".column");
  const ci = cols.indexOf(col);
  const cards = [...col.querySelectorAll(".card")];
  const i = cards.indexOf(cur);
  let next = null;
  if (ev.key === "ArrowDown") next = cards[i + 1];
  if (ev.key === "ArrowUp") next = cards[i - 1];
  if (ev.key === "ArrowLeft" || ev.key === "ArrowRight") {
    const other = cols[ci + (ev.key === "ArrowLeft" ? -1 : 1)];
    if (other) { const oc = [...other.querySelectorAll(".card")]; next = oc[Math.min(i, oc.length - 1)]; }
  }
  if (ev.key === "Enter") openDetail(Number(cur.dataset.id));
  if (next) { next.focus(); ev.preventDefault(); }
});

// --- markdown, safely: everything escaped first, then a few tags of our own -------
function escapeHtml(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}
function inline(s) {
  return s.replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/\*([^*]+)\*/g, "<em>$1</em>")
    .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" rel="noopener noreferrer">$1</a>');
}
function markdown(text) {
  const out = [];
  let list = false, code = false;
  for (const raw of escapeHtml(text).split("\n")) {
    if (raw.startsWith("```")) { out.push(code ? "</pre>" : "<pre>"); code = !code; continue; }
    if (code) { out.push(raw + "\n"); continue; }
    const item = raw.match(/^\s*[-*] (.*)/);
    if (item && !list) { out.push("<ul>"); list = true; }
    if (!item && list) { out.push("</ul>"); list = false; }
    const h = raw.match(/^(#{1,6}) (.*)/);
    if (h) out.push("<h" + (h[1].length + 2) + ">" + inline(h[2]) + "</h" + (h[1].length + 2) + ">");
    else if (item) out.push("<li>" + inline(item[1]) + "</li>");
    else if (raw.trim()) out.push("<p>" + inline(raw) + "</p>");
  }
  if (list) out.push("</ul>");
  if (code) out.push("</pre>");
  return out.join("");
}

// --- a card's detail, and its form ----------------------------------------------------
async function openDetail(id) {
  let d;
  try { d = await api("/api/story/" + id); } catch (e) { notice(e.message, true); return; }
  const s = d.story;
  const dlg = $("#detail");
  const rows = [["type", s.type], ["stage", s.stage], ["priority", s.priority ?? ""], ["labels", s.labels.join(", ")],
                ["depends on", s.depends_on.map((x) => "#" + x).join(", ")],
                ["parent", s.parent ? "#" + s.parent : ""],
                ["children", s.progress ? progressText(s.progress) : ""], ["agent", s.agent ?? ""],
                ["claim", s.claim ? s.claim.owner + " until " + s.claim.expires : ""], ["blocked", s.blocked ? "yes" : ""],
                ["created", s.created ?? ""], ["path", s.path]];
  for (const [k, v] of Object.entries(s.fields)) rows.push([k, typeof v === "string" ? v : JSON.stringify(v)]);
  const body = el("div", { class: "body" });
  body.innerHTML = markdown(s.body); // escaped: see markdown()
  const form = el("form", { id: "edit-form", method: "dialog" },
    el("label", {}, "Name ", el("input", { name: "name", value: s.name })),
    el("label", {}, "Priority ", el("input", { name: "priority", type: "number", value: s.priority ?? "" })),
    el("label", {}, "Labels ", el("input", { name: "labels", value: s.labels.join(", ") })),
    el("label", {}, el("input", { name: "blocked", type: "checkbox", ...(s.blocked ? { checked: "" } : {}) }), " blocked"),
    el("menu", {}, el("button", { value: "close", formnovalidate: "" }, "Close"), " ",
       el("button", { value: "save", id: "edit-save" }, "Save")));
  form.addEventListener("submit", async (ev) => {
    if (ev.submitter && ev.submitter.value !== "save") return;
    ev.preventDefault();
    const f = new FormData(form);
    const fields = { name: f.get("name"), blocked: f.get("blocked") ? "true" : "false",
                     labels: f.get("labels").split(",").map((x) => x.trim()).filter((x) => x) };
    fields.priority = f.get("priority") === "" ? null : f.get("priority");
    if (!fields.labels.length) fields.labels = null;
    try {
      await write("/api/story/" + id + "/fields", d.etag, { fields });
      dlg.close();
      notice("saved #" + id, false);
    } catch (e) {
      notice(e.status === 409 ? "#" + id + " changed while you edited it: reopen it to see the new version; nothing was overwritten"
                              : "#" + id + " was not saved: " + e.message, true);
      dlg.close();
    }
    load();
  });
  dlg.replaceChildren(
    el("h2", {}, el("span", { class: "id" }, "#" + s.id), " ", s.name),
    el("table", { class: "fields" }, ...rows.filter(([, v]) => v !== "").map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, String(v))))),
    body,
    el("h3", {}, "History"),
    el("ul", { class: "history" }, ...d.history.map((e) =>
      el("li", {}, e.time.replace("T", " ").slice(0, 16) + "  " + e.action + (e.from && e.to && e.from !== e.to ? " " + e.from + " -> " + e.to : "") +
         (e.owner ? " (" + e.owner + ")" : "") + (e.detail ? "  " + e.detail : "")))),
    form);
  dlg.showModal();
}

$("#new-story").addEventListener("click", () => { $("#create-form").reset(); $("#create").showModal(); });
$("#create-form").addEventListener("submit", async (ev) => {
  if (!ev.submitter || ev.submitter.value !== "create") return;
  ev.preventDefault();
  const f = new FormData(ev.target);
  const payload = { name: f.get("name"), type: f.get("type") || "story", body: f.get("body"),
                    labels: f.get("labels").split(",").map((x) => x.trim()).filter((x) => x) };
  if (f.get("priority") !== "") payload.priority = Number(f.get("priority"));
  try {
    const r = await write("/api/stories", null, payload);
    $("#create").close();
    notice("created #" + r.id, false);
    load();
  } catch (e) {
    notice("not created: " + e.message, true);
  }
});

// --- the flow page: charts drawn as SVG here ---------------------------------------
const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}
const palette = ["#8da0cb", "#66c2a5", "#fc8d62", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494", "#b3b3b3"];

function bars(id, title, values, labels) {
  const w = 640, h = 200, pad = 30, max = Math.max(1, ...values);
  const bw = (w - pad * 2) / Math.max(1, values.length);
  const chart = svg("svg", { id, width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": title });
  values.forEach((v, i) => {
    const bh = (h - pad * 2) * v / max;
    const r = svg("rect", { x: pad + i * bw + 1, y: h - pad - bh, width: Math.max(1, bw - 2), height: bh, fill: palette[0] });
    r.append(svg("title", {}, labels[i] + ": " + v));
    chart.append(r);
  });
  chart.append(svg("text", { x: pad, y: 16, "font-size": 12 }, title + " (max " + max + ")"));
  return chart;
}

function cumulativeFlow(cfd) {
  const w = 640, h = 260, pad = 30, days = cfd.days, n = days.length;
  const totals = days.map((d) => cfd.stages.reduce((a, s) => a + d.counts[s], 0));
  const max = Math.max(1, ...totals);
  const chart = svg("svg", { id: "cfd", width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": "cumulative flow" });
  const x = (i) => pad + (w - pad * 2) * (n <= 1 ? 0 : i / (n - 1));
  const y = (v) => h - pad - (h - pad * 2) * v / max;
  const below = new Array(n).fill(0);
  // Stacked from the last stage (done) at the bottom to the first on top.
  [...cfd.stages].reverse().forEach((stage, k) => {
    const top = days.map((d, i) => below[i] + d.counts[stage]);
    const points = days.map((d, i) => x(i) + "," + y(top[i])).concat(days.map((d, i) => x(n - 1 - i) + "," + y(below[n - 1 - i])));
    const area = svg("polygon", { points: points.join(" "), fill: palette[k % palette.length], "data-stage": stage });
    area.append(svg("title", {}, stage));
    chart.append(area);
    top.forEach((t, i) => { below[i] = t; });
  });
  chart.append(svg("text", { x: pad, y: 16, "font-size": 12 }, "cumulative flow, " + (days[0] ? days[0].date : "") + " to " + (days[n - 1] ? days[n - 1].date : "")));
  return chart;
}

async function showFlow() {
  const section = $("#flow");
  let f;
  try { f = await api("/api/flow?" + new URLSearchParams({ label: $("#f-label").value, type: $("#f-type").value })); }
  catch (e) { notice("cannot compute the flow: " + e.message, true); return; }
  const d = (s) => (s / 86400).toFixed(1) + " d";
  section.replaceChildren(
    el("h2", {}, "Flow, " + f.since.slice(0, 10) + " to " + f.until.slice(0, 10)),
    el("p", {}, "Cycle time p50 " + d(f.cycle_time.p50) + ", p85 " + d(f.cycle_time.p85) + ", p95 " + d(f.cycle_time.p95) +
                " (" + f.cycle_time.count + " stories); lead time p50 " + d(f.lead_time.p50) + ", p85 " + d(f.lead_time.p85)),
    cumulativeFlow(f.cumulative_flow),
    bars("cycle-histogram", "cycle time, stories per day of cycle time", f.cycle_time_histogram.map((b) => b.count), f.cycle_time_histogram.map((b) => b.days + " d")),
    bars("throughput", "throughput, stories done per week", f.throughput.map((w) => w.done), f.throughput.map((w) => w.week)),
    el("p", {}, "Work in progress: " + f.wip.map((s) => s.stage + " " + s.count).join(", ")));
}

function route() {
  const flow = location.hash === "#flow";
  $("#board").hidden = flow;
  $("#flow").hidden = !flow;
  if (flow) showFlow(); else load();
}

// --- live: the server says when the board changed ------------------------------------
// The stream needs the token (an EventSource sends no headers, so it goes in the
// URL) and names this page, which the server allows a few streams at once.
const client = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
function listen() {
  const events = new EventSource("/api/events?" + new URLSearchParams({ token, client }));
  events.addEventListener("change", () => { if (location.hash === "#flow") showFlow(); else load(); });
  // Refused (429: too many streams) or ended for good: try again a little later.
  events.addEventListener("error", () => {
    if (events.readyState === EventSource.CLOSED) setTimeout(listen, 5000);
  });
}

readFilters();
$("#filters").addEventListener("input", () => { clearTimeout(window.filterTimer); window.filterTimer = setTimeout(filtersChanged, 200); });
$("#filters").addEventListener("submit", (ev) => ev.preventDefault());
window.addEventListener("hashchange", route);
route();
listen();
