// Browser tests of the staff application in Debian's headless Chromium (playwright-core drives
// it; Playwright's own browser download is not used). Each launch gets a fresh temporary profile
// from Playwright, and every role × viewport its own browser context (no shared cookies). For every role, on a phone and a desktop
// viewport: sign in, check the dashboard's charts are drawn and the page does not overflow,
// search the permit list, sign out. Screenshots go to --out.
//
//   node run.mjs --base http://127.0.0.1:PORT --logins demo-logins.json --out DIR
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith("--")) acc.push([a.slice(2), all[i + 1]?.startsWith("--") ? true : all[i + 1] ?? true]);
    return acc;
  }, []),
);
const base = args.base;
const out = args.out || "target/browser-artifacts";
const logins = JSON.parse(readFileSync(args.logins, "utf8"));
mkdirSync(out, { recursive: true });

const VIEWPORTS = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1366, height: 900 } },
};

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const started = Date.now();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
  ],
});
let failures = 0;
const host = new URL(base).host;
try {
  for (const login of logins) {
    for (const [name, options] of Object.entries(VIEWPORTS)) {
      const label = `${login.role} ${name}`;
      const context = await browser.newContext(options);
      const page = await context.newPage();
      const problems = [];
      page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("request", (r) => {
        const u = new URL(r.url());
        if (!["data:", "blob:"].includes(u.protocol) && u.host !== host) problems.push(`external request: ${r.url()}`);
      });
      page.on("response", (r) => { if (r.status() >= 500) problems.push(`HTTP ${r.status()} for ${r.url()}`); });
      try {
        // Sign in.
        await page.goto(`${base}/masuk`);
        await page.fill("input[name=username]", login.username);
        await page.fill("input[name=password]", login.password);
        await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
        check(new URL(page.url()).pathname === "/", `${label}: after login at ${page.url()}`);
        const badge = await page.locator("[data-role-badge]").getAttribute("data-role-badge");
        check(badge === login.role, `${label}: role badge says ${badge}`);

        // Dashboard: charts drawn, nothing wider than the screen.
        const charts = page.locator("svg.chart");
        check((await charts.count()) >= 4, `${label}: ${await charts.count()} charts`);
        const drawn = await page.evaluate(() =>
          [...document.querySelectorAll("svg.chart .bar")].filter((b) => {
            const r = b.getBoundingClientRect();
            return r.width > 0 && r.height > 0;
          }).length,
        );
        check(drawn >= 5, `${label}: only ${drawn} chart bars have a size`);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        check(overflow <= 1, `${label}: dashboard overflows by ${overflow}px`);
        await page.screenshot({ path: join(out, `${login.role}-${name}-dashboard.png`), fullPage: true });

        // Permit list: rows, then a search by the first row's applicant name.
        await page.goto(`${base}/izin`);
        const rows = page.locator("table.permits tbody tr");
        check((await rows.count()) >= 10, `${label}: ${await rows.count()} permit rows`);
        const who = ((await rows.first().locator("td").nth(1).innerText()).split(/\s+/)[0] || "").trim();
        check(who.length > 0, `${label}: first row has no applicant`);
        await page.fill("input[name=q]", who);
        await Promise.all([page.waitForNavigation(), page.click("form.filters button[type=submit]")]);
        check((await rows.count()) >= 1, `${label}: search for ${who} found nothing`);
        check(new URL(page.url()).searchParams.get("q") === who, `${label}: search not in the URL`);
        const listOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        check(listOverflow <= 1, `${label}: permit list overflows by ${listOverflow}px`);
        await page.screenshot({ path: join(out, `${login.role}-${name}-permits.png`), fullPage: true });

        // Sync page: admin and staff can start a sync and see it listed; others see no button.
        await page.goto(`${base}/sinkronisasi`);
        const syncButton = page.locator("#sync-now");
        const maySync = ["admin", "staff"].includes(login.role);
        check((await syncButton.count()) === (maySync ? 1 : 0), `${label}: sync button presence`);
        if (maySync && name === "desktop") {
          await page.selectOption("select[name=kind]", "incremental");
          await Promise.all([page.waitForNavigation(), syncButton.click()]);
          const notice = await page.locator(".notice").first().innerText();
          check(/dimulai|sedang berjalan/.test(notice), `${label}: sync notice "${notice}"`);
          check((await page.locator("#runs tbody tr[data-run-id]").count()) >= 1, `${label}: no sync runs listed`);
          await page.screenshot({ path: join(out, `${login.role}-${name}-sync.png`), fullPage: true });
        }

        // Sign out (on the phone the menu is collapsed, the button stays visible).
        await Promise.all([page.waitForNavigation(), page.click("#logout")]);
        check(new URL(page.url()).pathname === "/masuk", `${label}: after logout at ${page.url()}`);
        check(problems.length === 0, `${label}: ${problems.join("; ")}`);
        console.log(`PASS ${label}`);
      } catch (e) {
        failures += 1;
        console.error(`FAIL ${e.message}`);
        await page.screenshot({ path: join(out, `${login.role}-${name}-failure.png`), fullPage: true }).catch(() => {});
      } finally {
        await context.close();
      }
    }
  }
} finally {
  await browser.close();
}
console.log(`${failures ? "FAILED" : "passed"}: ${logins.length * 2 - failures}/${logins.length * 2} in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${out}`);
process.exit(failures ? 1 : 0);
