// Browser tests of the staff application in Debian's headless Chromium, driven by playwright-core
// (Playwright's own browser download is never used). Every role signs in on a phone and a desktop
// viewport, each in a fresh browser context (no shared cookies): the dashboard's charts are drawn
// and the page does not overflow, the permit list can be searched, the sync page shows its button
// only to roles that may sync, and sign-out returns to the login page. Console errors, HTTP 5xx
// answers and requests to any other host fail the run. Screenshots go to --out.
//
//   node run.mjs --base http://127.0.0.1:PORT --logins demo-logins.json --out DIR
//   node run.mjs --selfcheck      (launch Chromium on a data: page only; no server needed)
//
// Exit code: 0 all passed, 1 a check failed, 2 bad usage or Chromium could not start.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import {
  ACTION_TIMEOUT_MS, CHROMIUM, NAVIGATION_TIMEOUT_MS, VIEWPORTS, check, clickAndLoad, die,
  horizontalOverflow, launch, shownMessage, watchProblems,
} from "./lib.mjs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const USAGE = "usage: node run.mjs --base http://127.0.0.1:PORT --logins FILE.json --out DIR\n" +
  "       node run.mjs --selfcheck";
const ROLES = ["admin", "staff", "official", "auditor"];
// Every staff page a role may open: none may be wider than the window (phone and desktop).
const PAGES = [
  ["dashboard", "/"], ["permits", "/izin"], ["documents", "/dokumen"], ["signing", "/tte"],
  ["types", "/jenis-izin"], ["sync", "/sinkronisasi"], ["messages", "/pesan"],
  ["contacts", "/pesan/kontak"], ["templates", "/pesan/templat"], ["renewals", "/pesan/perpanjangan"],
  ["provider", "/pesan/penyedia", ["admin", "staff"]], ["verifications", "/verifikasi"],
  ["audit", "/audit", ["admin", "auditor"]], ["users", "/pengguna", ["admin"]], ["account", "/akun"],
  ["survey-report", "/skm"],
];
// Screenshots of every page for the manual come from these roles (the others only assert).
const SHOT_ROLES = ["admin", "official"];
const MAY_SYNC = ["admin", "staff"];
// PDFs written by other programs (poppler/cairo and qpdf), one per uploading role.
const UPLOADS = {
  admin: "crates/pdf/tests/fixtures/cairo.pdf",
  staff: "crates/pdf/tests/fixtures/qpdf-object-streams.pdf",
};
function playwrightVersion() {
  try {
    const url = new URL("./node_modules/playwright-core/package.json", import.meta.url);
    return JSON.parse(readFileSync(url, "utf8")).version;
  } catch {
    return "unknown";
  }
}

// Launch Chromium, render a small data: page with a chart-like SVG and measure it.
async function selfcheck() {
  const started = Date.now();
  const browser = await launch();
  try {
    const context = await browser.newContext(VIEWPORTS.phone);
    const page = await context.newPage();
    const html = "<!doctype html><title>selfcheck</title><svg class=chart width=200 height=50>" +
      "<rect class=bar x=0 y=0 width=120 height=20 /></svg>";
    await page.goto(`data:text/html,${encodeURIComponent(html)}`);
    check((await page.title()) === "selfcheck", "selfcheck: the data: page did not load");
    const box = await page.locator("svg.chart .bar").boundingBox();
    check(box && box.width > 0 && box.height > 0, "selfcheck: the SVG bar has no size");
    check((await horizontalOverflow(page)) <= 1, "selfcheck: the page overflows");
    await context.close();
    console.log(`selfcheck OK: Chromium ${browser.version()} (${CHROMIUM}), playwright-core ` +
      `${playwrightVersion()}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await browser.close();
  }
}

// One role on one viewport. `step` says where a failure happened.
async function runOne(browser, base, login, viewport, out) {
  const label = `${login.role} ${viewport}`;
  const shot = (what) => join(out, `${login.role}-${viewport}-${what}.png`);
  const context = await browser.newContext(VIEWPORTS[viewport]);
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
  const page = await context.newPage();
  const problems = watchProblems(page, new URL(base).host);
  let step = "open the login page";
  try {
    // Sign in.
    await page.goto(`${base}/masuk`);
    step = "sign in";
    await page.fill("input[name=username]", login.username);
    await page.fill("input[name=password]", login.password);
    await clickAndLoad(page, "button[type=submit]");
    const landed = new URL(page.url()).pathname;
    check(landed === "/", `after signing in as ${login.username}, landed on ${landed} instead of /${await shownMessage(page)}`);
    const badge = page.locator("[data-role-badge]");
    check((await badge.count()) === 1, "no [data-role-badge] on the dashboard");
    // The role in Bahasa Indonesia (the code only in the attribute).
    const ROLE_LABELS = { admin: "Administrator", staff: "Petugas", official: "Pejabat", auditor: "Auditor" };
    const badgeText = await badge.innerText();
    check(badgeText.includes(ROLE_LABELS[login.role]), `role badge reads "${badgeText}", not ${ROLE_LABELS[login.role]}`);
    const badgeRole = await badge.getAttribute("data-role-badge");
    check(badgeRole === login.role, `role badge attribute is "${badgeRole}", not ${login.role}`);

    // Dashboard: at least 3 visible charts, at least one with a drawn bar, no sideways scrolling.
    step = "dashboard";
    const charts = await page.evaluate(() => {
      const sized = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
      const shown = (el) => { const s = getComputedStyle(el); return s.display !== "none" && s.visibility !== "hidden"; };
      const all = [...document.querySelectorAll("svg.chart")];
      const visible = all.filter((c) => sized(c) && shown(c));
      const drawn = visible.filter((c) => [...c.querySelectorAll(".bar")].some(sized));
      return { all: all.length, visible: visible.length, drawn: drawn.length };
    });
    check(charts.visible >= 5, `only ${charts.visible} of ${charts.all} svg.chart visible (want ≥ 5)`);
    check(charts.drawn >= 5, `only ${charts.drawn} charts have a drawn .bar (want all 5)`);
    const overflow = await horizontalOverflow(page);
    check(overflow <= 1, `dashboard is ${overflow}px wider than the window`);
    await page.screenshot({ path: shot("dashboard"), fullPage: true });

    // Permit list: rows, then a search for the first word of the first row's second cell.
    step = "permit list";
    await page.goto(`${base}/izin`);
    const rows = page.locator("table.permits tbody tr");
    check((await rows.count()) >= 10, "table.permits has fewer than 10 rows");
    const cell = await rows.first().locator("td").nth(1).innerText();
    const term = cell.trim().split(/\s+/)[0] || "";
    check(term.length > 0, "the first permit row's second cell is empty");
    step = `search for "${term}"`;
    await page.fill("input[name=q]", term);
    await clickAndLoad(page, "form:has(input[name=q]) button[type=submit]");
    check(new URL(page.url()).searchParams.get("q") === term, `search not in the URL: ${page.url()}`);
    check((await rows.count()) >= 1, `search for "${term}" found no rows`);
    const listOverflow = await horizontalOverflow(page);
    check(listOverflow <= 1, `permit list is ${listOverflow}px wider than the window`);
    await page.screenshot({ path: shot("permits"), fullPage: true });

    // Documents: admin and staff upload a PDF from a permit page that still waits for its
    // letter (desktop), and see version 1 listed; officials and auditors get no upload form.
    step = "document upload";
    await page.goto(`${base}/izin?status=issued&berkas=belum`);
    const waiting = page.locator("table.permits tbody tr td:first-child a");
    check((await waiting.count()) >= 1, "no issued permit waits for its PDF in the demo");
    await clickAndLoad(page, `table.permits tbody tr:nth-child(${login.role === "admin" ? 1 : 2}) td:first-child a`);
    check((await page.locator("#pdf-belum").count()) === 1, "the permit page does not say 'PDF belum diunggah'");
    const mayUpload = MAY_SYNC.includes(login.role);
    check((await page.locator("#upload").count()) === (mayUpload ? 1 : 0), `upload form ${mayUpload ? "missing" : "shown"}`);
    let submittedFrom = page.url();
    if (mayUpload && viewport === "desktop") {
      submittedFrom = page.url();
      await page.setInputFiles("#berkas", UPLOADS[login.role]);
      await clickAndLoad(page, "#upload button[type=submit]");
      const notice = await page.locator(".notice").first().innerText();
      check(/tersimpan sebagai versi 1/.test(notice), `upload notice reads "${notice}"`);
      check((await page.locator('#documents tr[data-version="1"]').count()) === 1, "version 1 not listed after the upload");
      check((await page.locator("#pdf-belum").count()) === 0, "'PDF belum diunggah' still shown after the upload");
      await page.screenshot({ path: shot("document-uploaded"), fullPage: true });
      // The file's page: preview frame, facts, an applicant link.
      await clickAndLoad(page, '#documents tr[data-version="1"] a.open-doc');
      check((await page.locator("#pdf-preview").count()) === 1, "no PDF preview on the file page");
      await clickAndLoad(page, "#new-link button[type=submit]");
      const linkUrl = await page.locator("#links input.link-url").first().inputValue();
      check(/\/unduh\/\d+\.\d+\./.test(linkUrl), `applicant link looks wrong: ${linkUrl}`);
      const fetched = await page.request.get(linkUrl);
      check(fetched.status() === 200 && fetched.headers()["content-type"] === "application/pdf", `applicant link answers ${fetched.status()}`);
    }

    // Every page the role may open fits the window; the menu marks the page it is on.
    step = "every page fits";
    for (const [slug, path, only] of PAGES) {
      if (only && !only.includes(login.role)) continue;
      step = `page ${path} fits`;
      await page.goto(`${base}${path}`);
      const over = await horizontalOverflow(page);
      check(over <= 1, `${path} is ${over}px wider than the ${viewport} window`);
      if (path !== "/skm" && path !== "/akun" && path !== "/pengguna" && path !== "/audit") {
        const active = await page.locator("nav.menu a.active").getAttribute("href").catch(() => null);
        const want = path.startsWith("/pesan") ? "/pesan" : path;
        check(active === want, `${path}: the menu highlights ${active}, not ${want}`);
      }
      if (SHOT_ROLES.includes(login.role)) await page.screenshot({ path: shot(`page-${slug}`), fullPage: true });
    }

    // Staff submit the letter they uploaded: the applicant's WhatsApp consent is asked for on
    // the spot when it is missing, with the counter's form right there.
    if (mayUpload && viewport === "desktop" && login.role === "staff") {
      step = "submit for approval";
      await page.goto(submittedFrom);
      await clickAndLoad(page, "button[data-step=ajukan]");
      const notice = await page.locator(".notice").first().innerText();
      check(/diajukan/.test(notice), `submit notice reads "${notice}"`);
      const consent = await page.locator("#wa-consent").getAttribute("data-consent");
      const prompt = page.locator("#consent-prompt");
      if (consent === "opted_in") {
        check((await prompt.count()) === 0, "a consent prompt for an applicant who agreed");
      } else {
        check((await prompt.count()) === 1, `no consent prompt after submitting (consent: ${consent})`);
        const box = await prompt.boundingBox();
        check(box && box.y < VIEWPORTS.desktop.viewport.height, "the consent prompt is not on the first screen");
        check((await page.locator("#consent-form input[name=telepon]").count()) === 1, "the prompt has no counter form");
        await page.screenshot({ path: shot("consent-prompt"), fullPage: true });
        // Consent recorded from there comes back to the permit page, prompt gone.
        if ((await page.locator("#consent-form input[name=telepon]").inputValue()) === "") {
          await page.fill("#consent-form input[name=telepon]", "081299990001");
        }
        await page.check("#consent-form input[name=persetujuan]");
        await clickAndLoad(page, "#consent-form button[type=submit]");
        check(new URL(page.url()).pathname === new URL(submittedFrom).pathname, `consent went to ${page.url()}`);
        check((await page.locator("#consent-prompt").count()) === 0, "the prompt stays after consent");
        check((await page.locator("#wa-consent").getAttribute("data-consent")) === "opted_in", "consent not shown");
      }
    }

    // The official, from a phone: approve (or sign) is on the first screen of the permit page.
    if (login.role === "official") {
      step = "official's buttons in reach";
      await page.goto(`${base}/tte`);
      const waiting = page.locator("section#submitted a[href^='/izin/'], section#stamped a[href^='/izin/']");
      check((await waiting.count()) >= 1, "nothing waits for the official on /tte (the staff run submits one)");
      await page.goto(`${base}${(await waiting.first().getAttribute("href")).split("#")[0]}`);
      const button = page.locator("button[data-step=setujui], button[data-step=tandatangani]").first();
      const box = await button.boundingBox();
      const { width, height } = VIEWPORTS[viewport].viewport;
      check(box && box.y >= 0 && box.y + box.height <= height && box.x >= 0 && box.x + box.width <= width,
        `the official's button is at ${JSON.stringify(box)}, outside the first ${width}×${height} screen`);
      await page.screenshot({ path: shot("permit-official") });
    }

    // The permit page's messages are the ones /pesan lists, in the same states.
    if (login.role === "auditor" && viewport === "desktop") {
      step = "permit messages match /pesan";
      await page.goto(`${base}/tte`);
      const published = page.locator("section#published a[href^='/izin/']");
      check((await published.count()) >= 1, "no published permit on /tte");
      await page.goto(`${base}${(await published.first().getAttribute("href")).split("#")[0]}`);
      const rows = await page.$$eval("#permit-messages tr[data-message-id]", (trs) =>
        trs.map((tr) => [tr.getAttribute("data-message-id"), tr.getAttribute("data-state")]));
      check(rows.length >= 1, "a published permit's page lists no WhatsApp message");
      await page.screenshot({ path: shot("permit-messages"), fullPage: true });
      const phones = await page.$$eval("#permit-messages tr[data-message-id] td:nth-child(3) small", (s) => s.map((e) => e.textContent.trim()));
      for (const phone of [...new Set(phones)]) {
        await page.goto(`${base}/pesan?telepon=${encodeURIComponent(phone)}`);
        const listed = Object.fromEntries(await page.$$eval("#messages tr[data-message-id]", (trs) =>
          trs.map((tr) => [tr.getAttribute("data-message-id"), tr.getAttribute("data-state")])));
        for (const [id, state] of rows) {
          if (id in listed) check(listed[id] === state, `message ${id}: ${state} on the permit page, ${listed[id]} on /pesan`);
        }
        check(rows.some(([id]) => id in listed), `none of the permit's messages is on /pesan?telepon=${phone}`);
      }
    }

    // Sync page: admin and staff can start a sync (once, on the desktop); others see no button.
    step = "sync page";
    await page.goto(`${base}/sinkronisasi`);
    const syncButton = page.locator("#sync-now");
    const maySync = MAY_SYNC.includes(login.role);
    check((await syncButton.count()) === (maySync ? 1 : 0), `sync button ${maySync ? "missing" : "shown"}`);
    if (maySync && viewport === "desktop") {
      await page.selectOption("select[name=kind]", "incremental");
      await clickAndLoad(page, "#sync-now");
      const notice = await page.locator(".notice").first().innerText();
      check(/dimulai|sedang berjalan/.test(notice), `sync notice reads "${notice}"`);
      check((await page.locator("#runs tbody tr[data-run-id]").count()) >= 1, "no sync runs listed");
      await page.screenshot({ path: shot("sync"), fullPage: true });
    }

    // Sign out: #logout submits a POST form (on the phone the menu collapses, the button stays).
    step = "sign out";
    await clickAndLoad(page, "#logout");
    const after = new URL(page.url()).pathname;
    check(after === "/masuk", `after sign-out on ${after}, not /masuk`);

    step = "console and network";
    check(problems.length === 0, problems.join("; "));
    return null;
  } catch (e) {
    // Keep what the page looked like; a failure here must not hide the real one.
    await page.screenshot({ path: shot("failure"), fullPage: true }).catch(() => {});
    const html = await page.content().catch(() => "");
    if (html) writeFileSync(join(out, `${login.role}-${viewport}-failure.html`), html);
    const also = step !== "console and network" && problems.length ? ` [also: ${problems.join("; ")}]` : "";
    const where = page.url();
    return `${label}: ${step}: ${e.message.split("\n")[0]} (at ${where})${also}`;
  } finally {
    await context.close();
  }
}

// The logins file: [{ username, password, role }, …] with known roles.
function readLogins(file) {
  let logins;
  try {
    logins = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    die(`cannot read logins from ${file}: ${e.message}`);
  }
  if (!Array.isArray(logins) || logins.length === 0) die(`${file}: expected a non-empty array of logins`);
  for (const [i, l] of logins.entries()) {
    if (!l || typeof l.username !== "string" || typeof l.password !== "string" || !ROLES.includes(l.role)) {
      die(`${file}: login #${i} needs username, password and a role among ${ROLES.join(", ")}`);
    }
  }
  return logins;
}

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        base: { type: "string" },
        logins: { type: "string" },
        out: { type: "string" },
        selfcheck: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    die(`${e.message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.selfcheck) {
    await selfcheck();
    return;
  }
  if (!values.base || !values.logins || !values.out) die(`--base, --logins and --out are required\n${USAGE}`);
  let base;
  try {
    base = new URL(values.base).origin;
  } catch {
    die(`--base is not a URL: ${values.base}`);
  }
  const logins = readLogins(values.logins);
  mkdirSync(values.out, { recursive: true });

  const started = Date.now();
  const browser = await launch();
  const failures = [];
  let passed = 0;
  try {
    for (const login of logins) {
      for (const viewport of Object.keys(VIEWPORTS)) {
        const t0 = Date.now();
        const failure = await runOne(browser, base, login, viewport, values.out);
        const took = ((Date.now() - t0) / 1000).toFixed(1);
        if (failure) {
          failures.push(failure);
          console.error(`FAIL ${failure}`);
        } else {
          passed += 1;
          console.log(`PASS ${login.role} ${viewport} (${took} s)`);
        }
      }
    }
  } finally {
    await browser.close();
  }
  console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${values.out}`);
  if (failures.length) {
    console.error(`${failures.length} browser check(s) failed:\n  ${failures.join("\n  ")}`);
  }
  console.log(`browser: ${passed} passed, ${failures.length} failed`);
  process.exitCode = failures.length ? 1 : 0;
}

await main();
