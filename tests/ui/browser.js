// Drives Debian's chromium (puppeteer-core; never a downloaded browser) through the dashboard
// of a live ringqd, for tests/integration/test_ui_browser.py, which prepares the server, reads
// this script's JSON report on stdout and checks it against Admin over gRPC.
//
//   node browser.js '<plan JSON>'
//   plan: {url, shots (dir or ""), mode: "full" | "read-only" | "auth", dead_queue, pause_queue,
//          purge_queue, xss_queue, token (mode auth: pasted when the page asks for one)}
//
// Report: the figures each view shows (read from the DOM), what was clicked, the CSP violations
// the page reported, and whether injected markup ran. Every wait polls for a condition with a
// deadline (puppeteer's waitFor*), never a fixed sleep.
"use strict";
const puppeteer = require("puppeteer-core");

const plan = JSON.parse(process.argv[2]);
const WAIT_MS = 15000;
const report = { views: {}, clicked: [], csp: [], console_errors: [], requests_elsewhere: [] };

async function ready(page) {
  // app.js stamps body[data-ready] after each completed refresh of the mounted view.
  await page.waitForFunction(() => document.body.dataset.ready, { timeout: WAIT_MS });
}
async function go(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await ready(page);
}
async function shot(page, name) {
  if (plan.shots) await page.screenshot({ path: `${plan.shots}/${name}.png`, fullPage: true });
}
// The text of every [data-f] cell, per table row key (data-q / data-id / data-worker) or "".
async function figures(page, scope) {
  return page.evaluate((sel) => {
    const out = {};
    for (const e of document.querySelectorAll(sel + " [data-f]")) {
      const row = e.closest("[data-q],[data-id],[data-worker],[data-consumer],[data-stream]");
      const d = row ? row.dataset : {};
      const k = row ? d.q || d.id || d.worker || (d.consumer && "consumer:" + d.consumer) || "stream:" + d.stream : "";
      (out[k] = out[k] || {})[e.dataset.f] = e.textContent;
    }
    return out;
  }, scope);
}
async function waitFlash(page, text) {
  await page.waitForFunction((t) => {
    const f = document.querySelector("#flash");
    return f && !f.classList.contains("hidden") && f.textContent.includes(t);
  }, { timeout: WAIT_MS }, text);
  return page.$eval("#flash", (f) => ({ text: f.textContent, err: f.classList.contains("err") }));
}
// Finds and clicks in one turn of the page's event loop: the 2-s refresh rebuilds tables, so an
// element found first and clicked later may be gone by then.
async function click(page, selector, what) {
  await page.waitForFunction((sel) => {
    const e = document.querySelector(sel);
    if (!e || e.offsetParent === null) return false;
    e.click();
    return true;
  }, { timeout: WAIT_MS }, selector);
  report.clicked.push(what);
}
const esc = (s) => s.replace(/["\\]/g, "\\$&");

async function full(page) {
  await shot(page, "ui-overview");
  report.views.overview = await figures(page, "#view");
  await go(page, "#/queues");
  report.views.queues = await figures(page, "#queues");
  await shot(page, "ui-queues");
  // Sort by dead, descending: click the header twice (ascending, then descending).
  for (let i = 0; i < 2; i++) {
    await click(page, 'th[data-sort="dead"]', "sort by dead");
    await page.waitForFunction((asc) => {
      const th = document.querySelector('th[data-sort="dead"]');
      return th.classList.contains("sorted") && th.classList.contains("asc") === asc;
    }, { timeout: WAIT_MS }, i === 0);
    await ready(page);
  }
  report.sorted_by_dead_desc = await page.$$eval("#queues tbody tr[data-q]", (rows) => rows.map((r) => r.dataset.q));
  // Pause from the queues table.
  await click(page, `tr[data-q="${esc(plan.pause_queue)}"] button[data-act="Pause"]`, "pause");
  report.pause_flash = await waitFlash(page, "Pause " + plan.pause_queue);
  // Purge asks first: the dialog is accepted.
  page.once("dialog", (d) => { report.purge_dialog = d.message(); d.accept(); });
  await click(page, `tr[data-q="${esc(plan.purge_queue)}"] button[data-act="Purge"]`, "purge");
  report.purge_flash = await waitFlash(page, "Purge " + plan.purge_queue);
  // A queue's page: figures, then redrive one selected dead task.
  await go(page, "#/queue/" + encodeURIComponent(plan.dead_queue));
  report.views.queue = await figures(page, "#view");
  report.views.queue_config = await page.$$eval("[data-cfg]", (es) => Object.fromEntries(es.map((e) => [e.dataset.cfg, e.textContent])));
  await shot(page, "ui-queue");
  const first = await page.$eval("#dead input[data-select]", (e) => e.dataset.select);
  await click(page, `#dead input[data-select="${esc(first)}"]`, "select " + first);
  await click(page, 'button[data-act="Redrive selected"]', "redrive selected");
  report.redriven = first;
  report.redrive_flash = await waitFlash(page, "Redrive");
  // Task lookup by id.
  await page.type("#lookup-id", first);
  await click(page, '#lookup button[type="submit"]', "look up");
  await page.waitForSelector(`#view tr[data-id="${esc(first)}"]`, { timeout: WAIT_MS });
  // The payload preview of a hostile payload: shown as text, its markup inert.
  await go(page, "#/queue/" + encodeURIComponent(plan.xss_queue));
  report.xss_preview = await page.$eval("pre.payload", (e) => e.textContent);
  report.xss_ran_after_render = await page.evaluate(() => window.__pwned || null);
  report.console_errors_before_inject = report.console_errors.slice();
  // Had a bug inserted that preview as HTML, the CSP would still stop it: try it here.
  await page.evaluate(() => {
    const p = document.querySelector("pre.payload");
    document.body.insertAdjacentHTML("beforeend", p.textContent);
  });
  await page.waitForFunction(() => window.__csp.length > 0, { timeout: WAIT_MS });
  report.xss_ran_after_inject = await page.evaluate(() => window.__pwned || null);
  await page.evaluate(() => { // the injected nodes out of the later screenshots
    for (const e of [...document.body.children]) if (!["HEADER", "MAIN", "FOOTER", "DIV"].includes(e.tagName)) e.remove();
  });
  await go(page, "#/workers");
  report.views.workers = await figures(page, "#view");
  await shot(page, "ui-workers");
  await go(page, "#/streams");
  report.views.streams = await figures(page, "#view");
  await shot(page, "ui-streams");
  // A phone, dark.
  await page.setViewport({ width: 390, height: 844, deviceScaleFactor: 1 });
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);
  await go(page, "#/queues");
  report.phone = await page.evaluate(() => ({
    background: getComputedStyle(document.body).backgroundColor,
    scroll_width: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
  }));
  await shot(page, "ui-phone-dark");
}

// ringqd with --auth-file: the page loads, is refused (401), asks for a token; once it is pasted
// the views fill and an action goes through with it.
async function auth(page) {
  await page.waitForFunction(() => {
    const b = document.querySelector("#token-box");
    return b && !b.classList.contains("hidden");
  }, { timeout: WAIT_MS });
  report.refused_flash = await waitFlash(page, "UNAUTHENTICATED");
  report.ready_before_token = await page.evaluate(() => document.body.dataset.ready || null);
  await page.type("#token", plan.token);
  await page.keyboard.press("Tab"); // blur: the change event stores it
  report.clicked.push("token");
  await go(page, "#/queues");
  report.views.queues = await figures(page, "#queues");
  await click(page, `tr[data-q="${esc(plan.pause_queue)}"] button[data-act="Pause"]`, "pause");
  report.pause_flash = await waitFlash(page, "Pause " + plan.pause_queue);
}

async function readOnly(page) {
  await go(page, "#/queues");
  report.visible_actions = await page.$$eval("button.act, .act input", (es) => es.filter((e) => e.offsetParent !== null).length);
  report.action_elements = await page.$$eval("button.act", (es) => es.length);
  await go(page, "#/queue/" + encodeURIComponent(plan.dead_queue));
  report.visible_actions += await page.$$eval("button.act, .act input", (es) => es.filter((e) => e.offsetParent !== null).length);
  report.mode_text = await page.$eval("#mode", (e) => e.textContent);
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--headless=new", "--disable-gpu", "--no-first-run"],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 860, deviceScaleFactor: 1 });
    await page.evaluateOnNewDocument(() => {
      window.__csp = [];
      document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective));
    });
    const origin = new URL(plan.url).origin;
    page.on("request", (q) => { if (!q.url().startsWith(origin)) report.requests_elsewhere.push(q.url()); });
    page.on("console", (m) => { if (m.type() === "error") report.console_errors.push(m.text()); });
    const r = await page.goto(plan.url, { waitUntil: "domcontentloaded", timeout: WAIT_MS });
    report.status = r.status();
    report.headers = r.headers();
    if (plan.mode === "auth") await auth(page);
    else await ready(page);
    if (plan.mode === "read-only") await readOnly(page);
    else if (plan.mode === "auth") { /* done above */ }
    else await full(page);
    report.csp = await page.evaluate(() => window.__csp);
    process.stdout.write(JSON.stringify(report) + "\n");
  } finally {
    await browser.close();
  }
})().catch((e) => {
  process.stdout.write(JSON.stringify(Object.assign(report, { error: String(e && e.stack || e) })) + "\n");
  process.exit(1);
});
