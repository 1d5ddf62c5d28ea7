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

// The done stages fold to their count unless the user opened them (remembered).
const showDone = () => localStorage.getItem("tracker.showDone") === "1";

function render() {
  const main = $("#board");
  // A card keeps the focus across a re-render only if it had it: a live update must
  // not take the focus from a filter or a form the user is typing in.
  const keepFocus = focused !== null && main.contains(document.activeElement);
  main.replaceChildren();
  for (const st of board.stages) {
    const folded = st.done && !showDone();
    const toggle = st.done ? el("button", { type: "button", class: "toggle", "aria-expanded": String(!folded),
                                            "aria-label": (folded ? "Show " : "Hide ") + st.name + " stories" },
                                folded ? "show" : "hide") : null;
    if (toggle) toggle.addEventListener("click", () => { localStorage.setItem("tracker.showDone", folded ? "1" : "0"); render(); });
    const col = el("section", { class: "column" + (folded ? " collapsed" : ""), "data-stage": st.name, "aria-label": st.name },
      el("h2", {}, el("span", {}, st.name), el("span", { class: "count" }, String(st.stories.length)), toggle));
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
  if (!$("#table").hidden) renderTable();
}

// --- the table: every story the filters keep, sorted by a column --------------------
let sortKey = localStorage.getItem("tracker.sort") || "stage";
let sortDir = localStorage.getItem("tracker.sortDir") || "asc";
const sortable = { id: "ID", name: "Name", type: "Type", stage: "Stage", priority: "Priority", age: "Age", updated: "Updated" };

function renderTable() {
  const stageOrder = new Map(board.stages.map((st, i) => [st.name, i]));
  const rows = board.stages.flatMap((st) => st.stories);
  const value = {
    id: (s) => s.id, name: (s) => s.name.toLowerCase(), type: (s) => s.type,
    stage: (s) => stageOrder.get(s.stage) * 1e6 - (s.priority ?? -1e5),
    priority: (s) => s.priority ?? -Infinity, age: (s) => s.age_seconds ?? -1,
    updated: (s) => -(s.updated_seconds ?? Infinity),  // the newest change is the highest
  }[sortKey];
  rows.sort((a, b) => {
    const x = value(a), y = value(b);
    const c = x < y ? -1 : x > y ? 1 : a.id - b.id;
    return sortDir === "asc" ? c : -c;
  });
  const header = el("tr", {}, ...Object.entries(sortable).map(([k, label]) => {
    const b = el("button", { type: "button", "data-sort": k }, label + (k === sortKey ? (sortDir === "asc" ? " ▲" : " ▼") : ""));
    b.addEventListener("click", () => {
      sortDir = k === sortKey && sortDir === "asc" ? "desc" : "asc";
      sortKey = k;
      localStorage.setItem("tracker.sort", sortKey);
      localStorage.setItem("tracker.sortDir", sortDir);
      renderTable();
    });
    return el("th", { scope: "col", "aria-sort": k === sortKey ? (sortDir === "asc" ? "ascending" : "descending") : "none" }, b);
  }), el("th", { scope: "col" }, "Labels"), el("th", { scope: "col" }, "Agent"));
  const body = el("tbody", {}, ...rows.map((s) => {
    const tr = el("tr", { "data-id": String(s.id), tabindex: "0" },
      el("td", { class: "id" }, "#" + s.id), el("td", {}, s.name + (s.blocked ? " " : ""), s.blocked ? el("span", { class: "blocked-mark" }, "blocked") : null),
      el("td", {}, s.type), el("td", {}, s.stage), el("td", {}, s.priority === null ? "" : "P" + s.priority),
      el("td", {}, age(s.age_seconds)), el("td", {}, age(s.updated_seconds)),
      el("td", {}, s.labels.join(", ")), el("td", {}, s.agent ? "@" + s.agent : ""));
    tr.addEventListener("click", () => openDetail(s.id));
    tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") openDetail(s.id); });
    return tr;
  }));
  $("#table").replaceChildren(el("table", {}, el("caption", { class: "hint" },
    rows.length + " stories; Age is since the story was created, Updated since its file last changed"), el("thead", {}, header), body));
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

// --- a card's detail: everything the file holds, each change the CLI's own call ------
const lists = (text) => text.split(",").map((x) => x.trim()).filter((x) => x);
const field = (label, control, hint) => el("label", {}, label + " ", control, hint ? el("span", { class: "hint" }, " " + hint) : null);

async function openDetail(id) {
  let d;
  try { d = await api("/api/story/" + id); } catch (e) { notice(e.message, true); return; }
  const s = d.story;
  const dlg = $("#detail");
  const known = new Set(["blocked_reason"]);
  const custom = Object.entries(s.fields).filter(([k]) => !known.has(k));
  const rows = [["children", s.progress ? progressText(s.progress) : ""],
                ["agent", s.agent ?? ""], ["claim", s.claim ? s.claim.owner + " until " + s.claim.expires : ""],
                ["created", s.created ?? ""], ["path", s.path]];
  const stageSelect = el("select", { name: "stage" }, ...board.stages.map((st) =>
    el("option", Object.assign({ value: st.name }, st.name === s.stage ? { selected: "" } : {}), st.name)));
  const typeSelect = el("select", { name: "type" }, ...board.types.map((t) =>
    el("option", Object.assign({ value: t }, t === s.type ? { selected: "" } : {}), t)));
  const bodyText = el("textarea", { name: "body", rows: "10", "aria-label": "Body (markdown)" });
  bodyText.value = s.body;
  const preview = el("div", { class: "body", hidden: "" });
  const writeTab = el("button", { type: "button", role: "tab", "aria-selected": "true" }, "Write");
  const previewTab = el("button", { type: "button", role: "tab", "aria-selected": "false" }, "Preview");
  const tab = (previewing) => {
    preview.innerHTML = markdown(bodyText.value); // escaped: see markdown()
    preview.hidden = !previewing;
    bodyText.hidden = previewing;
    writeTab.setAttribute("aria-selected", String(!previewing));
    previewTab.setAttribute("aria-selected", String(previewing));
  };
  writeTab.addEventListener("click", () => tab(false));
  previewTab.addEventListener("click", () => tab(true));
  const customRows = el("textarea", { name: "custom", rows: String(Math.max(2, custom.length + 1)), "aria-label": "Other fields" });
  customRows.value = custom.map(([k, v]) => k + ": " + (typeof v === "string" ? v : JSON.stringify(v))).join("\n");
  const blocked = el("input", Object.assign({ name: "blocked", type: "checkbox" }, s.blocked ? { checked: "" } : {}));
  const form = el("form", { id: "edit-form", method: "dialog" },
    el("div", { class: "grid" },
      field("Name", el("input", { name: "name", value: s.name, required: "" })),
      field("Type", typeSelect),
      field("Stage", stageSelect),
      field("Priority", el("input", { name: "priority", type: "number", value: s.priority ?? "" }), "a higher number is more urgent"),
      field("Labels", el("input", { name: "labels", value: s.labels.join(", ") }), "comma separated"),
      field("Depends on", el("input", { name: "depends_on", value: s.depends_on.join(", ") }), "story ids"),
      field("Parent", el("input", { name: "parent", type: "number", min: "1", value: s.parent ?? "" }), "the story this one is part of"),
      el("label", { class: "check" }, blocked, "Blocked"),
      field("Blocked because", el("input", { name: "blocked_reason", value: s.fields.blocked_reason ?? "" }))),
    el("div", { class: "tabs", role: "tablist", "aria-label": "Body" }, writeTab, previewTab),
    bodyText, preview,
    field("Other fields", customRows, "key: value, one a line"),
    el("menu", {},
      el("button", { type: "button", id: "detail-claim" }, s.claim ? "Release" : "Claim" + (board.identity ? " as " + board.identity : "")),
      el("button", { type: "button", id: "detail-archive" }, "Archive"),
      el("button", { type: "button", id: "detail-delete", class: "danger" }, "Delete"),
      el("button", { value: "close", formnovalidate: "" }, "Close"),
      el("button", { value: "save", id: "edit-save" }, "Save")));

  // One write after another, each checked against the version it was made on (the
  // ETag the page read, then the one each write left): nothing is overwritten.
  let etag = d.etag;
  const step = async (path, payload) => {
    const r = await write(path, etag, payload);
    etag = (await api("/api/story/" + id)).etag;
    return r;
  };
  const failed = (e, what) => {
    // A 409 with an etag is the story changed since it was read; another 409 is a
    // refusal (a claim held by someone else, a dependency not done): its words.
    notice(e.status === 409 && e.body && e.body.etag
             ? "#" + id + " changed while you edited it: reopen it to see the new version; nothing was overwritten"
             : "#" + id + " was not " + what + ": " + e.message, true);
    dlg.close();
    load();
  };
  form.addEventListener("submit", async (ev) => {
    if (ev.submitter && ev.submitter.value !== "save") return;
    ev.preventDefault();
    const f = new FormData(form);
    const fields = {};
    const set = (key, value, now) => { if (JSON.stringify(value) !== JSON.stringify(now)) fields[key] = value; };
    set("name", f.get("name"), s.name);
    set("type", f.get("type"), s.type);
    set("priority", f.get("priority") === "" ? null : f.get("priority"), s.priority === null ? null : String(s.priority));
    set("labels", lists(f.get("labels")).length ? lists(f.get("labels")) : null, s.labels.length ? s.labels : null);
    set("depends_on", lists(f.get("depends_on")).length ? lists(f.get("depends_on")) : null,
        s.depends_on.length ? s.depends_on.map(String) : null);
    set("parent", f.get("parent") === "" ? null : f.get("parent"), s.parent === null ? null : String(s.parent));
    set("blocked", f.get("blocked") ? "true" : null, s.blocked ? "true" : null);
    set("blocked_reason", f.get("blocked") && f.get("blocked_reason") ? f.get("blocked_reason") : null, s.fields.blocked_reason ?? null);
    const before = new Map(custom.map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
    const after = new Map();
    for (const line of f.get("custom").split("\n")) {
      const at = line.indexOf(":");
      if (at > 0) after.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
    }
    for (const [k, v] of after) if (before.get(k) !== v) fields[k] = v;
    for (const k of before.keys()) if (!after.has(k)) fields[k] = null;
    try {
      if (Object.keys(fields).length) await step("/api/story/" + id + "/fields", { fields });
      if (bodyText.value !== s.body) await step("/api/story/" + id + "/body", { body: bodyText.value });
      if (f.get("stage") !== s.stage) await step("/api/story/" + id + "/move", { stage: f.get("stage") });
      dlg.close();
      notice("saved #" + id, false);
    } catch (e) {
      return failed(e, "saved");
    }
    load();
  });
  const act = (button, what, path, confirmText) => form.querySelector(button).addEventListener("click", async () => {
    if (confirmText && !confirm(confirmText)) return;
    try {
      await write(path, etag, {});
      dlg.close();
      notice(what + " #" + id, false);
    } catch (e) {
      return failed(e, what);
    }
    load();
  });
  act("#detail-claim", s.claim ? "released" : "claimed", "/api/story/" + id + (s.claim ? "/release" : "/claim"));
  act("#detail-archive", "archived", "/api/story/" + id + "/archive");
  act("#detail-delete", "deleted", "/api/story/" + id + "/delete",
      "Delete #" + id + " " + s.name + "? Its id is never given out again; git keeps its history.");
  dlg.replaceChildren(
    el("h2", {}, el("span", { class: "id" }, "#" + s.id), " ", s.name),
    el("table", { class: "fields" }, ...rows.filter(([, v]) => v !== "").map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, String(v))))),
    form,
    el("h3", {}, "History"),
    el("ul", { class: "history" }, ...d.history.map((e) =>
      el("li", {}, e.time.replace("T", " ").slice(0, 16) + "  " + e.action + (e.from && e.to && e.from !== e.to ? " " + e.from + " -> " + e.to : "") +
         (e.owner ? " (" + e.owner + ")" : "") + (e.detail ? "  " + e.detail : "")))));
  dlg.showModal();
  tab(true);  // read first; Write edits
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
const palette = ["#5b7bd5", "#3aa17e", "#e07b39", "#c75c9e", "#8fb339", "#d4a72c", "#9c7b5b", "#8c8c8c"];

// A chart with axes: `draw(x, y, svg)` puts the data in; y from 0 to `max` in `unit`,
// with a grid line and a number at 0, half and max; `xLabels` under the x axis.
function chart(id, title, max, unit, xLabels, draw) {
  const w = 680, h = 240, left = 48, right = 12, top = 12, bottom = 40;
  const c = svg("svg", { id, width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": title });
  const x = (f) => left + (w - left - right) * f;
  const y = (v) => h - bottom - (h - top - bottom) * v / max;
  for (const v of [0, max / 2, max]) {
    c.append(svg("line", { class: "grid-line", x1: left, x2: w - right, y1: y(v), y2: y(v) }));
    c.append(svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, String(Math.round(v * 10) / 10)));
  }
  c.append(svg("line", { class: "axis", x1: left, x2: left, y1: top, y2: h - bottom }));
  c.append(svg("line", { class: "axis", x1: left, x2: w - right, y1: h - bottom, y2: h - bottom }));
  c.append(svg("text", { x: 4, y: top + 4, "text-anchor": "start", transform: `rotate(90 4 ${top + 4})` }, unit));
  xLabels.forEach(([f, text, anchor]) => c.append(svg("text", { x: x(f), y: h - bottom + 16, "text-anchor": anchor || "middle" }, text)));
  draw(x, y, c);
  return c;
}

function bars(id, title, unit, values, labels, xUnit) {
  const max = Math.max(1, ...values);
  const n = Math.max(1, values.length);
  const ticks = values.length ? [[0.5 / n, labels[0]], [1 - 0.5 / n, labels[values.length - 1]]] : [];
  const c = chart(id, title, max, unit, ticks.concat([[0.5, xUnit]]).map(([f, t], i) => [f, t, i === 2 ? "middle" : undefined]), (x, y, c) => {
    values.forEach((v, i) => {
      const r = svg("rect", { x: x(i / n) + 1, y: y(v), width: Math.max(1, x(1 / n) - x(0) - 2), height: y(0) - y(v), fill: palette[0] });
      r.append(svg("title", {}, labels[i] + ": " + v + " " + unit));
      c.append(r);
    });
  });
  return el("figure", {}, el("figcaption", {}, title), c);
}

function cumulativeFlow(cfd) {
  const days = cfd.days, n = days.length;
  const totals = days.map((d) => cfd.stages.reduce((a, s) => a + d.counts[s], 0));
  const max = Math.max(1, ...totals);
  const ticks = n ? [[0, days[0].date, "start"], [1, days[n - 1].date, "end"]] : [];
  const stages = [...cfd.stages].reverse(); // the last stage (done) at the bottom
  const c = chart("cfd", "cumulative flow", max, "stories", ticks, (x, y, c) => {
    const below = new Array(n).fill(0);
    const at = (i) => x(n <= 1 ? 0 : i / (n - 1));
    stages.forEach((stage, k) => {
      const top = days.map((d, i) => below[i] + d.counts[stage]);
      const points = days.map((d, i) => at(i) + "," + y(top[i])).concat(days.map((d, i) => at(n - 1 - i) + "," + y(below[n - 1 - i])));
      const area = svg("polygon", { points: points.join(" "), fill: palette[k % palette.length], "data-stage": stage });
      const last = days[n - 1];
      area.append(svg("title", {}, stage + (last ? ": " + last.counts[stage] + " stories on " + last.date : "")));
      c.append(area);
      top.forEach((t, i) => { below[i] = t; });
    });
    // Values on hover: one column per day, its title the day's counts.
    days.forEach((d, i) => {
      const band = svg("rect", { x: at(i) - (n > 1 ? (x(1) - x(0)) / (2 * (n - 1)) : 2), y: y(max), width: Math.max(2, n > 1 ? (x(1) - x(0)) / (n - 1) : 4),
                                 height: y(0) - y(max), fill: "transparent", class: "day" });
      band.append(svg("title", {}, d.date + ": " + cfd.stages.map((st) => st + " " + d.counts[st]).join(", ")));
      c.append(band);
    });
  });
  const legend = el("ul", { class: "legend-list", "aria-label": "Stages" }, ...stages.map((st, k) =>
    el("li", {}, el("span", { class: "swatch", style: "background:" + palette[k % palette.length] }), st)));
  return el("figure", {}, el("figcaption", {}, "Cumulative flow: stories in each stage, day by day"), c, legend);
}

async function showFlow() {
  const section = $("#flow");
  let f;
  try { f = await api("/api/flow?" + new URLSearchParams({ label: $("#f-label").value, type: $("#f-type").value })); }
  catch (e) { notice("cannot compute the flow: " + e.message, true); return; }
  const d = (s) => (s / 86400).toFixed(1) + " d";
  const done = f.throughput.reduce((a, w) => a + w.done, 0);
  const head = [
    el("h2", {}, "Flow, " + f.since.slice(0, 10) + " to " + f.until.slice(0, 10)),
    el("p", {}, "Cycle time p50 " + d(f.cycle_time.p50) + ", p85 " + d(f.cycle_time.p85) + ", p95 " + d(f.cycle_time.p95) +
                " (" + f.cycle_time.count + " stories); lead time p50 " + d(f.lead_time.p50) + ", p85 " + d(f.lead_time.p85)),
    el("p", {}, "Work in progress: " + f.wip.map((s) => s.stage + " " + s.count).join(", "))];
  // A young board has too little history for charts to say anything: say so.
  const activeDays = f.cumulative_flow.days.filter((x, i, all) => i > 0 && JSON.stringify(x.counts) !== JSON.stringify(all[i - 1].counts)).length;
  if (done < 3 || activeDays < 2) {
    section.replaceChildren(...head, el("p", { id: "flow-young" },
      "Too little history for charts yet: " + done + " " + (done === 1 ? "story" : "stories") + " done and " + activeDays +
      " days with a change in this window. The charts appear once at least 3 stories are done over 2 days or more."));
    return;
  }
  section.replaceChildren(...head,
    cumulativeFlow(f.cumulative_flow),
    bars("cycle-histogram", "Cycle time: stories by days from start to done", "stories",
         f.cycle_time_histogram.map((b) => b.count), f.cycle_time_histogram.map((b) => b.days + " d"), "days of cycle time"),
    bars("throughput", "Throughput: stories done each week", "stories",
         f.throughput.map((w) => w.done), f.throughput.map((w) => w.week), "week"));
}

function route() {
  const view = location.hash === "#flow" ? "flow" : location.hash === "#table" ? "table" : "board";
  $("#board").hidden = view !== "board";
  $("#table").hidden = view !== "table";
  $("#flow").hidden = view !== "flow";
  $("#legend").hidden = view === "flow";
  for (const v of ["board", "table", "flow"])
    if (v === view) $("#nav-" + v).setAttribute("aria-current", "page"); else $("#nav-" + v).removeAttribute("aria-current");
  if (view === "flow") showFlow(); else load();
}

// Keys anywhere but in a form: ? help, n new, / search, b t f the views.
document.addEventListener("keydown", (ev) => {
  if (ev.target.closest("input, textarea, select, dialog") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const go = { b: "#board", t: "#table", f: "#flow" }[ev.key];
  if (ev.key === "?") { $("#help").showModal(); ev.preventDefault(); }
  else if (ev.key === "n") { $("#new-story").click(); ev.preventDefault(); }
  else if (ev.key === "/") { $("#f-q").focus(); ev.preventDefault(); }
  else if (go && movingId === null) { location.hash = go; ev.preventDefault(); }
});
$("#help-button").addEventListener("click", () => $("#help").showModal());

// --- live: the server says when the board changed ------------------------------------
// The stream needs the token (an EventSource sends no headers, so it goes in the
// URL) and names this page, which the server allows a few streams at once.
const client = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
function listen() {
  const events = new EventSource("/api/events?" + new URLSearchParams({ token, client }));
  events.addEventListener("change", () => { if (location.hash === "#flow") showFlow(); else load(); });  // the table too
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
