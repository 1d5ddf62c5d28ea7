// tracker serve in headless Chromium: the board against `tracker list --json`, a drag
// and a keyboard move checked in git, a CLI move seen live, a filter, a card's
// detail, an edit that meets a change made meanwhile, a story created from the
// page, a <script> in a story body that must not run, a page of another site that
// tries to frame the board, and screenshots.
// Usage: node board.mjs <tracker binary> <board directory> <output directory>
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import puppeteer from "puppeteer-core";

const [tracker, board, out] = process.argv.slice(2);
const cli = (...args) => execFileSync(tracker, args, { cwd: board, encoding: "utf8" });
const git = (...args) => execFileSync("git", args, { cwd: board, encoding: "utf8" });
// The newest commit's subject, once it matches: the page may show a move as soon as
// the file is renamed, a moment before the commit lands.
async function lastCommit(pattern) {
  for (let i = 0; i < 200; ++i) {
    const subject = git("log", "-1", "--format=%s").trim();
    if (pattern.test(subject)) return subject;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail("no commit matching " + pattern + "; the last is " + git("log", "-1", "--format=%s").trim());
}

const server = spawn(tracker, ["serve", "--port", "0"], { cwd: board, stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((resolve, reject) => {
  let text = "";
  server.stdout.on("data", (d) => {
    text += d;
    const m = text.match(/http:\/\/127\.0\.0\.1:\d+\//);
    if (m) resolve(m[0]);
  });
  server.on("exit", (code) => reject(new Error("tracker serve exited with " + code)));
});
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 800 });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector(".column .card");

  // The columns and cards are what `tracker list --json` says.
  const columns = async () => page.$$eval(".column", (cols) =>
    Object.fromEntries(cols.map((c) => [c.dataset.stage, [...c.querySelectorAll(".card")].map((x) => Number(x.dataset.id)).sort((a, b) => a - b)])));
  const listed = JSON.parse(cli("list", "--json"));
  const expected = {};
  for (const st of JSON.parse(cli("stats", "--json")).stages ? Object.keys(JSON.parse(cli("stats", "--json")).stages) : []) expected[st] = [];
  for (const s of listed) (expected[s.stage] ??= []).push(s.id);
  for (const k of Object.keys(expected)) expected[k].sort((a, b) => a - b);
  assert.deepEqual(await columns(), expected);

  // A <script> in a body is shown as text and never runs.
  const evil = listed.find((s) => s.name === "Evil body").id;
  await page.click(`.card[data-id="${evil}"]`);
  await page.waitForSelector("#detail[open] .body");
  const bodyText = await page.$eval("#detail .body", (b) => b.textContent);
  assert.match(bodyText, /<script>window\.pwned = 1<\/script>/);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(await page.$$eval("#detail .body script, #detail .body img", (x) => x.length), 0);
  const history = await page.$eval("#detail .history", (h) => h.textContent);
  assert.match(history, /create/);
  await page.keyboard.press("Escape");

  // Drag a card to another column: the move is a commit, as `tracker move` makes it.
  const first = listed.find((s) => s.name === "Drag me").id;
  await page.evaluate((id) => {
    const card = document.querySelector(`.card[data-id="${id}"]`);
    const target = document.querySelector('.column[data-stage="current"]');
    const dt = new DataTransfer();
    card.dispatchEvent(new DragEvent("dragstart", { bubbles: true, dataTransfer: dt }));
    target.dispatchEvent(new DragEvent("dragover", { bubbles: true, cancelable: true, dataTransfer: dt }));
    target.dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, first);
  await page.waitForSelector(`.column[data-stage="current"] .card[data-id="${first}"]`);
  await lastCommit(new RegExp(`^tracker: move #${first} backlog -> current$`));

  // The keyboard: focus the card, `m`, right arrow: current -> qa.
  // (Focused again until it holds: a live update may replace the card meanwhile.)
  await page.waitForFunction((id) => {
    const c = document.querySelector(`.card[data-id="${id}"]`);
    if (c && document.activeElement !== c) c.focus();
    return c !== null && document.activeElement === c;
  }, {}, first);
  await page.keyboard.press("m");
  await page.waitForFunction((id) => document.querySelector("#notice").textContent === `move #${id}: left or right arrow`, {}, first);
  await page.keyboard.press("ArrowRight");
  await page.waitForSelector(`.column[data-stage="qa"] .card[data-id="${first}"]`);
  await lastCommit(new RegExp(`^tracker: move #${first} current -> qa$`));

  // A move made on the command line appears without a reload.
  const other = listed.find((s) => s.name === "Moved by the CLI").id;
  cli("move", String(other), "merge");
  await page.waitForSelector(`.column[data-stage="merge"] .card[data-id="${other}"]`, { timeout: 5000 });

  // An edit of a story changed meanwhile shows the conflict and overwrites nothing.
  const login = listed.find((s) => s.name === "Login page").id;
  await page.click(`.card[data-id="${login}"]`);
  await page.waitForSelector("#detail[open] #edit-form");
  cli("set", String(login), "priority=9");
  await page.$eval("#edit-form [name=priority]", (i) => { i.value = "1"; });
  await page.click("#edit-save");
  await page.waitForFunction(() => /changed while you edited/.test(document.querySelector("#notice").textContent));
  assert.equal(JSON.parse(cli("show", String(login), "--json")).priority, 9);

  // Create a story from the page: one commit, and its card appears.
  await page.click("#new-story");
  await page.waitForSelector("#create[open]");
  await page.type("#create-form [name=name]", "Made in the browser");
  await page.click("#create-submit");
  // (The live update may show the card before the answer closes the dialog.)
  await page.waitForSelector("#create:not([open])");
  await page.waitForFunction(() => [...document.querySelectorAll(".card .name")].some((n) => n.textContent === "Made in the browser"));
  await lastCommit(/^tracker: create #\d+ Made in the browser/);

  // A live update re-renders the board; it keeps a card's focus, but never takes
  // the focus from a filter the user is typing in.
  await page.focus(`.card[data-id="${login}"]`);
  await page.focus("#f-label");
  cli("set", String(login), "priority=8");
  await page.waitForFunction((id) => / P8 |P8/.test(document.querySelector(`.card[data-id="${id}"]`)?.textContent || ""), {}, login);
  assert.equal(await page.evaluate(() => document.activeElement.id), "f-label");

  // A filter: only the auth stories, and the filter in the URL.
  await page.type("#f-label", "auth");
  await page.waitForFunction(() => location.search.includes("label=auth"));
  await page.waitForFunction(() => document.querySelectorAll(".card").length === 1);
  const shown = await page.$$eval(".card", (cs) => cs.map((c) => Number(c.dataset.id)));
  assert.deepEqual(shown, listed.filter((s) => s.labels.includes("auth")).map((s) => s.id));
  await page.$eval("#f-label", (i) => { i.value = ""; i.dispatchEvent(new Event("input", { bubbles: true })); });
  await page.waitForFunction(() => !location.search.includes("label="));

  await page.waitForFunction((n) => document.querySelectorAll(".card").length === n, {}, listed.length + 1);
  await page.screenshot({ path: path.join(out, "board.png") });

  // The flow page draws its charts.
  await page.goto(url + "#flow");
  await page.waitForSelector("#cfd polygon");
  assert.ok(await page.$("#throughput"));
  await page.screenshot({ path: path.join(out, "flow.png") });
  assert.deepEqual(errors, []);

  // A page of another site frames the board to click on it for the user: the frame
  // stays empty. The control frame holds a copy of the board's page served without
  // the server's headers: it renders, and the same check finds the board in it.
  const boardPage = await (await fetch(url)).text();
  const foreign = http.createServer((req, res) => {
    res.setHeader("Content-Type", "text/html");
    if (req.url === "/control") return res.end(boardPage);
    res.end(`<iframe id=board src="${url}"></iframe><iframe id=control src="/control"></iframe>`);
  });
  await new Promise((resolve) => foreign.listen(0, "127.0.0.1", resolve));
  try {
    const framer = await browser.newPage();
    const said = [];
    framer.on("console", (m) => said.push(m.text()));
    const headBefore = git("rev-parse", "HEAD").trim();
    await framer.goto(`http://localhost:${foreign.address().port}/`, { waitUntil: "networkidle0" });
    const frames = framer.frames().filter((f) => f !== framer.mainFrame());
    assert.equal(frames.length, 2);
    const shows = (f) => f.evaluate(() => document.querySelectorAll(".card, meta[name=tracker-token]").length);
    for (const f of frames) {
      if (f.url().endsWith("/control")) {
        assert.ok((await shows(f)) > 0, "the control frame did not render");
        continue;
      }
      // Blocked: Chromium puts its error page in the frame, with no card and no token.
      assert.equal(await shows(f), 0);
      assert.doesNotMatch(await f.evaluate(() => document.documentElement.outerHTML), /tracker-token|class="column/);
    }
    await framer.keyboard.press("m");
    await framer.keyboard.press("ArrowRight");
    assert.equal(git("rev-parse", "HEAD").trim(), headBefore);
    assert.ok(said.some((t) => /frame-ancestors|X-Frame-Options/.test(t)), "Chromium did not say why: " + said.join(" | "));
    await framer.close();
  } finally {
    foreign.close();
  }
  console.log("ok: board, detail, drag, keyboard move, live move, edit conflict, create, filter, flow, no framing; screenshots in " + out);
} finally {
  await browser.close();
  server.kill();
}
