// Application tracking (/lacak, issue 24) in headless Chromium at a phone viewport, as an
// applicant uses it: the right registration number and last four phone digits (the steps with
// their dates, SICANTIK's data time), the English switch, wrong digits and an unknown number
// (the same "does not match" answer, status 404), then SICANTIK down — its database error page
// with status 200, as CodeIgniter sends it through the simulator — for an application never
// looked up before: the office's own record with a plain "SICANTIK cannot be reached" line,
// never an error page. The demo writes the two applications to demo-lacak.json; the SICANTIK
// simulator's address comes from the demo's output. Screenshots go to --out (lacak-*.png).
//
//   node lacak.mjs --base http://127.0.0.1:PORT --sicantik http://127.0.0.1:PORT2 --lacak demo-lacak.json --out DIR
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  ACTION_TIMEOUT_MS, NAVIGATION_TIMEOUT_MS, VIEWPORTS, check, clickAndLoad, die,
  horizontalOverflow, launch, watchProblems,
} from "./lib.mjs";

async function sicantikDown(sicantik, mode) {
  const r = await fetch(`${sicantik}/_sim/down?mode=${mode}`, { method: "POST" });
  check(r.ok, `the SICANTIK simulator refused mode ${mode}: ${r.status}`);
}

async function main() {
  const { values } = parseArgs({
    options: {
      base: { type: "string" }, sicantik: { type: "string" }, lacak: { type: "string" }, out: { type: "string" },
    },
  });
  if (!values.base || !values.sicantik || !values.lacak || !values.out) {
    die("--base, --sicantik, --lacak and --out are required");
  }
  const base = new URL(values.base).origin;
  const sicantik = new URL(values.sicantik).origin;
  const host = new URL(base).host;
  const out = values.out;
  mkdirSync(out, { recursive: true });
  const [first, second] = JSON.parse(readFileSync(values.lacak, "utf8"));
  check(first?.nomor && first?.telepon && second?.nomor && second?.telepon, "demo-lacak.json names no two applications");
  const wrong = String((Number(first.telepon) + 1) % 10000).padStart(4, "0");

  const browser = await launch();
  let step = "start";
  try {
    const context = await browser.newContext(VIEWPORTS.phone);
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    const page = await context.newPage();
    // Wrong digits and an unknown number answer 404 on purpose.
    const problems = watchProblems(page, host, { expected404: (path) => path === "/lacak" });
    const shot = (what) => page.screenshot({ path: join(out, `lacak-${what}.png`), fullPage: true });
    const answer = async () => (await page.locator("[data-lacak]").first().getAttribute("data-lacak")) || "";
    const track = async (nomor, telepon) => {
      let status = 0;
      const seen = (r) => { if (r.request().method() === "POST" && new URL(r.url()).pathname === "/lacak") status = r.status(); };
      page.on("response", seen);
      await page.goto(`${base}/lacak`);
      await page.fill("input[name=nomor]", nomor);
      await page.fill("input[name=telepon]", telepon);
      await clickAndLoad(page, "#lacak-form button[type=submit]");
      page.off("response", seen);
      return status;
    };

    step = "the form";
    await page.goto(`${base}/periksa`);
    await clickAndLoad(page, "a[href='/lacak']");
    check(new URL(page.url()).pathname === "/lacak", `the portal's link leads to ${page.url()}`);
    check((await page.locator("#lacak-form input[name=nomor]").count()) === 1, "no form on /lacak");
    check((await horizontalOverflow(page)) <= 1, "/lacak is wider than the phone");
    await shot("form");

    step = "right number and digits";
    // As printed on a receipt: in groups.
    const grouped = first.nomor.replace(/(\d{4})(?=\d)/g, "$1 ");
    let status = await track(grouped, first.telepon);
    check(status === 200, `the right code answers ${status}`);
    check((await answer()) === "ditemukan", `the right code reads ${await answer()}`);
    const found = await page.locator("main").innerText();
    check(found.includes(first.nomor), "the result does not name the registration number");
    check((await page.locator("#lacak-sicantik [data-sicantik]").getAttribute("data-sicantik")) === "langsung",
      "SICANTIK answered, but the page does not say its data is live");
    check((await page.locator("main li[data-step], main li[data-companion]").count()) > 0,
      "the result lists no steps");
    check(!/\+62|08\d{6}/.test(found), "the result shows a phone number");
    check((await horizontalOverflow(page)) <= 1, "the result is wider than the phone");
    await shot("found");

    step = "English switch";
    await clickAndLoad(page, "#lang-switch");
    check((await page.getAttribute("html", "lang")) === "en", "no English page");
    check(/Track/i.test(await page.locator("main").innerText()), "no English text on /lacak");
    await clickAndLoad(page, "#lang-switch");
    check((await page.getAttribute("html", "lang")) === "id", "the switch does not lead back to Bahasa Indonesia");

    step = "wrong digits";
    status = await track(first.nomor, wrong);
    check(status === 404, `wrong digits answer ${status}`);
    check((await answer()) === "tidak-cocok", `wrong digits read ${await answer()}`);
    const wrongText = await page.locator("[data-lacak]").first().innerText();
    check((await page.locator("#lacak-hasil").count()) === 0, "wrong digits show a result");
    await shot("wrong");

    step = "unknown number";
    status = await track("9999 0000 1111 2222", first.telepon);
    check(status === 404, `an unknown number answers ${status}`);
    check((await answer()) === "tidak-cocok", `an unknown number reads ${await answer()}`);
    check((await page.locator("[data-lacak]").first().innerText()) === wrongText,
      "an unknown number and wrong digits are answered differently");

    step = "SICANTIK down";
    await sicantikDown(sicantik, "database");
    status = await track(second.nomor, second.telepon);
    check(status === 200, `with SICANTIK down the right code answers ${status}`);
    check((await answer()) === "ditemukan", `with SICANTIK down the right code reads ${await answer()}`);
    check((await page.locator("#lacak-sicantik [data-sicantik]").getAttribute("data-sicantik")) === "tidak-ada",
      "with SICANTIK down and nothing kept, the page does not say so");
    check(/tidak dapat dihubungi/.test(await page.locator("#lacak-sicantik").innerText()),
      "no plain words that SICANTIK cannot be reached");
    check(!/Database Error|A PHP Error/i.test(await page.content()), "SICANTIK's error page reaches the applicant");
    await shot("sicantik-down");

    check(problems.length === 0, problems.join("\n"));
    console.log("lacak: right, wrong and unknown codes, English, SICANTIK down — all as expected");
  } catch (e) {
    console.error(`lacak browser test failed at "${step}": ${e.message}`);
    process.exitCode = 1;
  } finally {
    await sicantikDown(sicantik, "off").catch(() => {});
    await browser.close();
  }
}

main();
