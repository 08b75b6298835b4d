// Shared by the browser test scripts: launching Debian's Chromium, the viewports, and the checks
// every page gets (no console errors, no HTTP 5xx, no request to another host).
import { chromium } from "playwright-core";
import { existsSync } from "node:fs";

export const VIEWPORTS = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1366, height: 768 } },
};
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const ACTION_TIMEOUT_MS = 15_000;
export const NAVIGATION_TIMEOUT_MS = 30_000;

export function die(message, code = 2) {
  console.error(message);
  process.exit(code);
}

export function check(cond, message) {
  if (!cond) throw new Error(message);
}

// The one place Chromium is started, for the self-check and the real run alike; `extraArgs`
// adds switches (e.g. --host-resolver-rules for a non-localhost name).
export async function launch(extraArgs = []) {
  if (!existsSync(CHROMIUM)) {
    die(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM`);
  }
  try {
    return await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 60_000, // a cold start on a loaded 2-core machine can be slow
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", ...extraArgs,
      ],
    });
  } catch (e) {
    die(`Chromium at ${CHROMIUM} did not start: ${e.message}`);
  }
}

// Click something that submits a form or follows a link, and wait until the new page has loaded
// (POST → 303 → GET commits once, at the final page).
export async function clickAndLoad(page, selector) {
  const navigated = page.waitForEvent("framenavigated", {
    predicate: (frame) => frame === page.mainFrame(),
    timeout: NAVIGATION_TIMEOUT_MS,
  });
  await page.click(selector);
  await navigated;
  await page.waitForLoadState("load");
}

// An error or notice the page shows, for failure messages.
export async function shownMessage(page) {
  const text = await page
    .locator("[role=alert], .error, .notice")
    .first()
    .innerText({ timeout: 1000 })
    .catch(() => "");
  return text ? ` (page says: "${text.trim().slice(0, 200)}")` : "";
}

export async function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

// Every request and answer of a page that should fail the run.
// `expected404(path)`: pages that answer 404 on purpose (a look-up that finds nothing); Chromium
// logs their document as a failed resource, which is not a problem there.
export function watchProblems(page, host, { expected404 = () => false } = {}) {
  const problems = [];
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const at = m.location()?.url;
    if (at && /status of 404/.test(m.text()) && expected404(new URL(at).pathname)) return;
    problems.push(`console error: ${m.text()} (${at || "?"})`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    const u = new URL(r.url());
    // chrome: and chrome-extension: are the browser's own PDF viewer (the document preview),
    // loaded from inside Chromium, not from the network.
    const internal = ["data:", "blob:", "about:", "chrome:", "chrome-extension:"];
    if (!internal.includes(u.protocol) && u.host !== host) {
      problems.push(`request to another host: ${r.url()}`);
    }
  });
  page.on("requestfailed", (r) => {
    // Loads cut short by the next navigation are aborted on purpose.
    const why = r.failure()?.errorText || "";
    if (!why.includes("ERR_ABORTED")) problems.push(`request failed: ${r.url()} (${why})`);
  });
  page.on("response", (r) => { if (r.status() >= 500) problems.push(`HTTP ${r.status()} for ${r.url()}`); });
  return problems;
}

