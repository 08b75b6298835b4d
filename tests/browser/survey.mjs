// The satisfaction survey (issue 24) in headless Chromium at a phone viewport: an applicant's
// open link (answer all nine questions, a comment, the thank-you page), the same link again
// (already answered; a second POST is refused with 409), the English switch, an expired link
// (410), an unknown link (404); then a staff member reads /skm (IKM and grade of the demo's
// seeded month), its CSV and the printable report. Screenshots go to --out (survey-*.png).
//
//   node survey.mjs --base http://127.0.0.1:PORT --logins demo-logins.json --survey demo-survey.json --out DIR
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  ACTION_TIMEOUT_MS, NAVIGATION_TIMEOUT_MS, VIEWPORTS, check, clickAndLoad, die,
  horizontalOverflow, launch, watchProblems,
} from "./lib.mjs";

async function main() {
  const { values } = parseArgs({
    options: {
      base: { type: "string" }, logins: { type: "string" }, survey: { type: "string" }, out: { type: "string" },
    },
  });
  if (!values.base || !values.logins || !values.survey || !values.out) {
    die("--base, --logins, --survey and --out are required");
  }
  const base = new URL(values.base).origin;
  const host = new URL(base).host;
  const out = values.out;
  mkdirSync(out, { recursive: true });
  const links = JSON.parse(readFileSync(values.survey, "utf8"));
  const staff = JSON.parse(readFileSync(values.logins, "utf8")).find((l) => l.role === "staff");
  check(links.open && links.expired && staff, "no survey links or no staff login");

  const browser = await launch();
  let step = "start";
  try {
    const context = await browser.newContext(VIEWPORTS.phone);
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    const page = await context.newPage();
    const problems = watchProblems(page, host);
    const shot = (what) => page.screenshot({ path: join(out, `survey-${what}.png`), fullPage: true });
    const state = async () => (await page.locator("#survey").getAttribute("data-survey")) || "";

    step = "open link";
    let r = await page.goto(`${base}/survei/${links.open}`);
    check(r.status() === 200, `open link answers ${r.status()}`);
    check((await state()) === "terbuka", `open link reads ${await state()}`);
    check((await page.locator("fieldset.question").count()) === 9, "not nine questions");
    check((await horizontalOverflow(page)) <= 1, "the survey is wider than the phone");
    await shot("open");

    step = "answer";
    const scores = [4, 3, 2, 4, 3, 3, 4, 3, 2];
    for (const [i, v] of scores.entries()) {
      await page.check(`input[name=u${i + 1}][value="${v}"]`);
    }
    await page.fill("textarea[name=komentar]", "Uji peramban: antrean di loket lama.");
    await page.selectOption("select[name=usia]", "30-39");
    await clickAndLoad(page, "form.survey button[type=submit]");
    check((await state()) === "terkirim", `after answering: ${await state()}`);
    await shot("sent");

    step = "answer twice";
    r = await page.goto(`${base}/survei/${links.open}`);
    check((await state()) === "sudah-dijawab", `the answered link reads ${await state()}`);
    check((await page.locator("form.survey").count()) === 0, "the answered link still shows the form");
    const again = await page.request.post(`${base}/survei/${links.open}`, {
      form: Object.fromEntries(scores.map((v, i) => [`u${i + 1}`, String(v)])),
    });
    check(again.status() === 409, `a second answer got ${again.status()}, want 409`);
    await shot("answered");

    step = "English switch";
    await clickAndLoad(page, "#lang-switch");
    check((await page.getAttribute("html", "lang")) === "en", "no English page");
    check(/already answered/i.test(await page.locator("#survey").innerText()), "no English text");
    await clickAndLoad(page, "#lang-switch");

    step = "expired link";
    r = await page.goto(`${base}/survei/${links.expired}`);
    check(r.status() === 410, `expired link answers ${r.status()}`);
    check((await state()) === "kedaluwarsa", `expired link reads ${await state()}`);
    await shot("expired");

    step = "unknown link";
    r = await page.goto(`${base}/survei/tidak-ada-tautan-seperti-ini`);
    check(r.status() === 404, `unknown link answers ${r.status()}`);
    check((await state()) === "tidak-dikenal", `unknown link reads ${await state()}`);

    // 404 and 410 pages are logged by Chromium as console errors; nothing else may appear.
    const unexpected = problems.filter((p) => !/status of 40[49]|status of 410/.test(p));
    check(unexpected.length === 0, unexpected.join("; "));

    step = "staff: /skm";
    await page.goto(`${base}/masuk`);
    await page.fill("input[name=username]", staff.username);
    await page.fill("input[name=password]", staff.password);
    await clickAndLoad(page, "button[type=submit]");
    await page.goto(`${base}/skm`);
    const summary = page.locator("#skm-summary");
    const grade = await summary.getAttribute("data-grade");
    const ikm = await summary.getAttribute("data-ikm");
    check(["A", "B", "C", "D"].includes(grade), `/skm grade ${grade}, IKM ${ikm}`);
    check(/^\d{2,3},\d{2}$/.test(ikm), `/skm IKM ${ikm}`);
    check((await page.locator("#skm-elements tbody tr").count()) === 9, "no nine NRR rows");
    check((await page.locator("svg[data-chart=chart-skm-nrr]").count()) === 1, "no NRR chart");
    check((await page.content()).includes("Uji peramban: antrean di loket lama."), "the comment is not on /skm");
    check((await horizontalOverflow(page)) <= 1, "/skm is wider than the phone");
    await shot("skm");

    step = "staff: previous month";
    const prev = new Date();
    prev.setDate(1);
    prev.setMonth(prev.getMonth() - 1);
    await page.goto(`${base}/skm?periode=bulan&tahun=${prev.getFullYear()}&bulan=${prev.getMonth() + 1}`);
    const prevRespondents = await summary.innerText();
    check(/(\d+) responden/.test(prevRespondents) && Number(/(\d+) responden/.exec(prevRespondents)[1]) >= 40,
      `the seeded month is thin: ${prevRespondents}`);
    await shot("skm-month");

    step = "staff: CSV and print";
    const csv = await page.request.get(`${base}/skm.csv`);
    check(csv.status() === 200 && (csv.headers()["content-type"] || "").startsWith("text/csv"), `CSV: ${csv.status()}`);
    const text = await csv.text();
    check(text.includes("U9") && text.includes("IKM"), "CSV without U9 or IKM");
    await page.goto(`${base}/skm/cetak`);
    check((await page.locator("#skm-report").count()) === 1, "no printable report");
    await shot("print");

    await context.close();
    console.log("survey: all checks passed");
  } catch (e) {
    console.error(`survey FAIL at "${step}": ${e.message}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
