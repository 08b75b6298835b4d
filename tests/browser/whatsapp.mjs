// WhatsApp in the demo, as people see it: the simulator's phone page (phone viewport) shows the
// demo's "permit ready" and "approval needed" messages with read ticks (the receipts came back
// through our signed webhook) and the renewal notice with its download link (which serves the
// new letter); a citizen writes "DAFTAR <registration id>" from the phone page
// from a number SICANTIK does not hold for it, gets the "held for staff" reply, and staff
// confirm it on /pesan/kontak; staff see the messages, their states and the opt-in on
// /pesan and /pesan/kontak (desktop). Screenshots go to --out (whatsapp-*.png).
//
//   node whatsapp.mjs --base http://127.0.0.1:PORT --phone http://127.0.0.1:SIMPORT --logins demo-logins.json --out DIR
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  ACTION_TIMEOUT_MS, NAVIGATION_TIMEOUT_MS, VIEWPORTS, check, clickAndLoad, die,
  horizontalOverflow, launch, watchProblems,
} from "./lib.mjs";

// Polls `probe` (an async function returning a truthy value) for up to `seconds`.
async function eventually(probe, seconds, what) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    // A navigation still under way aborts a goto: that is a "not yet", not a failure.
    const v = await probe().catch(() => false);
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      base: { type: "string" }, phone: { type: "string" }, logins: { type: "string" }, out: { type: "string" },
    },
  });
  if (!values.base || !values.phone || !values.logins || !values.out) {
    die("--base, --phone, --logins and --out are required");
  }
  const base = new URL(values.base).origin;
  const phone = new URL(values.phone).origin;
  mkdirSync(values.out, { recursive: true });
  const shot = (what) => join(values.out, `whatsapp-${what}.png`);
  const staffLogin = JSON.parse(readFileSync(values.logins, "utf8")).find((l) => l.role === "staff");
  check(staffLogin, "no staff account in the demo logins");

  const browser = await launch();
  let step = "start";
  try {
    // --- The phone: the demo's messages arrived and were read.
    step = "phone page: the demo's messages";
    const mobile = await browser.newContext(VIEWPORTS.phone);
    mobile.setDefaultTimeout(ACTION_TIMEOUT_MS);
    mobile.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    const mp = await mobile.newPage();
    await eventually(async () => {
      await mp.goto(`${phone}/`);
      const html = await mp.content();
      return html.includes("telah selesai") && html.includes("menunggu persetujuan") && html.includes("dibaca");
    }, 90, "the permit-ready and approval messages, read, on the phone page");
    const overflow = await horizontalOverflow(mp);
    check(overflow <= 1, `the phone page is ${overflow}px wider than the phone`);
    await mp.screenshot({ path: shot("phone"), fullPage: true });

    // --- The renewal notice (event 7) with the new letter's download link, which opens.
    step = "phone page: the renewal notice and its download link";
    const renewalLink = await eventually(async () => {
      await mp.goto(`${phone}/`);
      const text = await mp.locator("body").innerText();
      const notice = text.split("\n").find((l) => l.includes("perpanjangan izin") && l.includes("disetujui"));
      if (!notice) return false;
      const m = notice.match(/https?:\/\/\S+\/v\/[A-Za-z0-9]+\/unduh/);
      return m ? m[0] : false;
    }, 90, "the renewal notice with a download link on the phone page");
    check(new URL(renewalLink).origin === base, `the renewal link ${renewalLink} is not the companion's`);
    const pdf = await mp.request.get(renewalLink);
    check(pdf.status() === 200, `the renewal's download link answered ${pdf.status()}`);
    check((pdf.headers()["content-type"] || "").includes("pdf"), "the renewal's download is not a PDF");
    await mp.screenshot({ path: shot("renewal"), fullPage: true });

    // --- Staff: the log shows them with their states.
    step = "staff: message log";
    const desk = await browser.newContext(VIEWPORTS.desktop);
    desk.setDefaultTimeout(ACTION_TIMEOUT_MS);
    desk.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    const sp = await desk.newPage();
    const problems = watchProblems(sp, new URL(base).host);
    await sp.goto(`${base}/masuk`);
    await sp.fill("input[name=username]", staffLogin.username);
    await sp.fill("input[name=password]", staffLogin.password);
    await clickAndLoad(sp, "button[type=submit]");
    await sp.goto(`${base}/pesan?peristiwa=permit_ready`);
    const read = await sp.locator("table#messages tbody tr[data-state=read]").count();
    check(read >= 1, `no "permit ready" message marked read on /pesan (found ${read})`);
    await sp.goto(`${base}/pesan`);
    await sp.screenshot({ path: shot("log"), fullPage: true });

    // --- A citizen registers for notifications from the phone.
    step = "citizen: DAFTAR from the phone page";
    await sp.goto(`${base}/izin?status=issued`);
    const href = await sp.locator("table.permits tbody tr td:first-child a").first().getAttribute("href");
    const registration = (href || "").split("/").pop();
    check(registration, "no issued permit to register for");
    await mp.goto(`${phone}/`);
    await mp.fill("#from", "0813 7777 1234");
    await mp.fill("#text", `DAFTAR ${registration}`);
    // The form posts and is redirected back to "/": wait for that POST's answer and the page
    // it leads to (the URL is "/" before and after, so it cannot be waited for by URL).
    await Promise.all([
      mp.waitForResponse((r) => r.url().endsWith("/telepon/kirim") && r.request().method() === "POST"),
      mp.$eval("form[action='/telepon/kirim']", (f) => f.requestSubmit()),
    ]);
    await mp.waitForLoadState("load");
    // The number is not the one SICANTIK holds for the permit: the request waits for a person
    // (DAFTAR <id> from any number must not hijack an applicant's messages).
    await eventually(async () => {
      await mp.goto(`${phone}/`);
      return (await mp.content()).includes("petugas DPMPTSP Kabupaten Karo akan memeriksanya");
    }, 60, "the DAFTAR 'held for staff' reply on the phone page");
    await mp.screenshot({ path: shot("daftar"), fullPage: true });

    step = "staff: confirm the held DAFTAR request";
    await sp.goto(`${base}/pesan/kontak`);
    const held = "table#daftar tbody tr[data-phone='+6281377771234']";
    check(await sp.locator(held).count() > 0, "the held DAFTAR request is not listed on /pesan/kontak");
    await clickAndLoad(sp, `${held} button:has-text('Setujui')`);

    step = "staff: the opt-in on the contacts page";
    await sp.goto(`${base}/pesan/kontak?cari=6281377771234`);
    const contacts = await sp.content();
    check(contacts.includes("+6281377771234"), "the registered number is not on /pesan/kontak");
    check(/daftar/i.test(contacts), "the opt-in's source (daftar) is not shown");
    await sp.screenshot({ path: shot("contacts"), fullPage: true });
    check(problems.length === 0, problems.join("; "));
    console.log("whatsapp: phone page, renewal notice and link, message log, DAFTAR and contacts passed");
  } catch (e) {
    console.error(`FAIL whatsapp: ${step}: ${e.message.split("\n")[0]}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
