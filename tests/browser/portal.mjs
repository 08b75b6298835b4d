// The public verification portal in headless Chromium at a phone viewport, as the public uses it:
// the QR pages of a valid, a revoked and an unknown document and a forged QR, each verdict read
// from the page; the seal checked in the page, again after the network to the server is cut;
// uploads of the valid signed PDF, the same with one byte changed, an unsigned PDF and a PDF
// signed by a foreign certificate; a photo of the QR read on the scan page. An official (desktop)
// revokes one document first. Then the same QR pages on a plain-http name that is not localhost
// (portal.test, mapped to the server), where Chromium has no WebCrypto (`crypto.subtle` also
// deleted by an init script): the bundled Ed25519 + SHA-512 fallback must still call the genuine
// seal valid and the forged one invalid; with the fallback unable to run (no BigInt) both must
// read "cannot be checked here", never a forgery; /pindai must survive a BarcodeDetector that is
// not a constructor. Screenshots go to --out (portal-*.png).
//
//   node portal.mjs --base http://127.0.0.1:PORT --logins demo-logins.json --out DIR
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  ACTION_TIMEOUT_MS, NAVIGATION_TIMEOUT_MS, VIEWPORTS, check, clickAndLoad, die,
  horizontalOverflow, launch, watchProblems,
} from "./lib.mjs";

const FOREIGN = "crates/pdf/tests/fixtures/signed-by-other.pdf";

// A small valid PDF with no signature.
function unsignedPdf() {
  const objs = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
  ];
  let out = "%PDF-1.4\n";
  const offsets = [];
  objs.forEach((o, i) => { offsets.push(out.length); out += `${i + 1} 0 obj\n${o}\nendobj\n`; });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) out += `${String(off).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

async function verdictOf(page) {
  return (await page.locator("#verdict").getAttribute("data-verdict")) || "";
}

// The verdict's colour as the visitor sees it, like the national verifier: green, amber or red.
const COLOUR = {
  "ASLI": "green", "KEDALUWARSA": "amber", "DICABUT": "amber", "TIDAK DAPAT DIPASTIKAN": "amber",
  "TIDAK ASLI": "red", "TIDAK DIKENAL": "red",
};
async function colourOf(page) {
  const bg = await page.locator("#verdict").evaluate((el) => getComputedStyle(el).backgroundColor);
  const [r, g, b] = (bg.match(/\d+/g) || []).map(Number);
  if (g > r + 40 && g > b) return "green";
  if (r > 200 && g > 120 && b < 100) return "amber";
  if (r > 150 && g < 80 && b < 80) return "red";
  return `unclassified ${bg}`;
}
async function checkLook(page, what) {
  const word = await verdictOf(page);
  const colour = await colourOf(page);
  check(COLOUR[word] === colour, `${what}: ${word} is shown ${colour}, want ${COLOUR[word]}`);
  const text = await page.locator("#verdict").innerText();
  check(text.includes(word), `${what}: the verdict box does not read ${word}: ${text}`);
  const home = await page.locator("#portal-home").getAttribute("href");
  check(home === "/periksa", `${what}: the portal's logo links to ${home}, not /periksa`);
  check(/Pemerintah Kabupaten Karo/.test(await page.locator("header").innerText()), `${what}: no office name in the header`);
  const facts = await page.evaluate(() => [...document.querySelectorAll("main dl.facts")]
    .filter((dl) => !dl.closest("details")).map((dl) => dl.innerText).join("\n"));
  check(!/CN=|O=|OU=/.test(facts), `${what}: a certificate DN is shown unfolded: ${facts}`);
}

function forgedPathOf(u) {
  return u.pathname + u.search;
}

async function main() {
  const { values } = parseArgs({
    options: { base: { type: "string" }, logins: { type: "string" }, out: { type: "string" } },
  });
  if (!values.base || !values.logins || !values.out) die("--base, --logins and --out are required");
  const base = new URL(values.base).origin;
  const host = new URL(base).host;
  const out = values.out;
  mkdirSync(out, { recursive: true });
  const official = JSON.parse(readFileSync(values.logins, "utf8")).find((l) => l.role === "official");
  check(official, "no official in the demo logins");

  const port = new URL(base).port;
  const browser = await launch([`--host-resolver-rules=MAP portal.test 127.0.0.1`]);
  let step = "start";
  try {
    // --- An official finds two published documents and revokes the second.
    step = "official: find published documents";
    const staff = await browser.newContext(VIEWPORTS.desktop);
    staff.setDefaultTimeout(ACTION_TIMEOUT_MS);
    staff.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    const sp = await staff.newPage();
    await sp.goto(`${base}/masuk`);
    await sp.fill("input[name=username]", official.username);
    await sp.fill("input[name=password]", official.password);
    await clickAndLoad(sp, "button[type=submit]");
    await sp.goto(`${base}/tte`);
    const permits = await sp.$$eval("section#published a[href^='/izin/']", (as) =>
      [...new Set(as.map((a) => a.getAttribute("href").split("#")[0]))]);
    check(permits.length >= 2, `want ≥ 2 published documents on /tte, found ${permits.length}`);
    const linkOf = async (permit) => {
      await sp.goto(`${base}${permit}`);
      const a = sp.locator("a[data-verification-link]").first();
      return a.getAttribute("href");
    };
    const validPath = await linkOf(permits[0]);
    const revokedPath = await linkOf(permits[1]);
    check(validPath && validPath.includes("?d=") && revokedPath, "no verification links on the permit pages");
    step = "official: revoke";
    const form = sp.locator("form:has(button[data-step=cabut])").first();
    await form.locator("input[name=alasan]").fill("Uji peramban: dicabut");
    const navigated = sp.waitForEvent("framenavigated", { predicate: (f) => f === sp.mainFrame() });
    await form.locator("button[data-step=cabut]").click();
    await navigated;
    await staff.close();

    // --- The public, on a phone, not signed in.
    const context = await browser.newContext(VIEWPORTS.phone);
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    const page = await context.newPage();
    const problems = watchProblems(page, host);
    const shot = (what) => page.screenshot({ path: join(out, `portal-${what}.png`), fullPage: true });

    step = "valid QR page";
    await page.goto(`${base}${validPath}`);
    check((await verdictOf(page)) === "ASLI", `valid document reads ${await verdictOf(page)}`);
    await page.locator("#seal-offline [data-seal=sah]").waitFor();
    check((await horizontalOverflow(page)) <= 1, "the QR page is wider than the phone");
    await shot("valid");

    step = "seal check with the network cut";
    await context.setOffline(true);
    await page.evaluate(() => { document.querySelector("#seal-offline .seal-result").removeAttribute("data-seal"); });
    await page.click("#seal-offline button");
    await page.locator("#seal-offline [data-seal=sah]").waitFor();
    const sealText = await page.locator("#seal-offline").innerText();
    check(/SEGEL SAH/.test(sealText), `offline seal check reads: ${sealText}`);
    await shot("seal-offline");
    await context.setOffline(false);

    step = "English switch";
    await clickAndLoad(page, "#lang-switch");
    check((await page.getAttribute("html", "lang")) === "en", "the switch did not give the English page");
    check((await verdictOf(page)) === "ASLI", "the verdict's key changed with the language");
    const english = await page.locator("#verdict").innerText();
    check(/AUTHENTIC/.test(english), `English verdict reads: ${english}`);
    await page.locator("#seal-offline [data-seal=sah]").waitFor();
    const englishSeal = await page.locator("#seal-offline").innerText();
    check(/VALID SEAL/.test(englishSeal), `English seal check reads: ${englishSeal}`);
    await shot("valid-english");
    // Back to Bahasa Indonesia for the rest (the choice is kept in a cookie).
    await clickAndLoad(page, "#lang-switch");
    check((await page.getAttribute("html", "lang")) === "id", "the switch back did not give Bahasa");

    step = "forged QR";
    const u = new URL(`${base}${validPath}`);
    const d = u.searchParams.get("d");
    u.searchParams.set("d", d.slice(0, -2) + (d.endsWith("A") ? "B" : "A") + d.slice(-1));
    await page.goto(u.toString());
    check((await verdictOf(page)) === "TIDAK ASLI", `forged QR reads ${await verdictOf(page)}`);
    await page.locator("#seal-offline [data-seal=tidak-sah]").waitFor();
    await shot("forged");

    step = "revoked QR page";
    await page.goto(`${base}${revokedPath}`);
    check((await verdictOf(page)) === "DICABUT", `revoked document reads ${await verdictOf(page)}`);
    check((await page.content()).includes("Uji peramban: dicabut"), "the revocation reason is not shown");
    await shot("revoked");

    step = "unknown code";
    await page.goto(`${base}/periksa`);
    await page.fill("input[name=kode]", "zzzz-zzzz-zzzz");
    await clickAndLoad(page, "form[method=get] button[type=submit]");
    check((await verdictOf(page)) === "TIDAK DIKENAL", `unknown code reads ${await verdictOf(page)}`);
    await shot("unknown");

    // --- Uploads.
    const vid = validPath.split("/v/")[1].split("?")[0];
    const pdf = await (await page.request.get(`${base}/v/${vid}/unduh`)).body();
    check(pdf.subarray(0, 5).toString() === "%PDF-", "the signed PDF did not download");
    const changed = Buffer.from(pdf);
    changed[300] ^= 1;
    const cases = [
      ["signed", pdf, "ASLI"],
      ["changed", changed, "TIDAK ASLI"],
      ["unsigned", unsignedPdf(), "TIDAK ASLI"],
      ["foreign", readFileSync(FOREIGN), "TIDAK DAPAT DIPASTIKAN"],
    ];
    for (const [name, bytes, want] of cases) {
      step = `upload ${name}`;
      await page.goto(`${base}/periksa`);
      await page.setInputFiles("input[name=berkas]", { name: `${name}.pdf`, mimeType: "application/pdf", buffer: bytes });
      await clickAndLoad(page, "form[enctype] button[type=submit]");
      const got = await verdictOf(page);
      check(got === want, `upload ${name}: ${got}, want ${want}`);
      const lines = await page.locator("#checks li").count();
      check(lines >= 1, `upload ${name}: no check lines`);
      await checkLook(page, `upload ${name}`);
      await shot(`upload-${name}`);
    }

    step = "scan a photo of the QR";
    const pdfPath = join(out, "portal-signed.pdf");
    writeFileSync(pdfPath, pdf);
    execFileSync("pdftoppm", ["-r", "150", "-f", "1", "-l", "1", "-png", "-singlefile", pdfPath, join(out, "portal-qr-photo")]);
    await page.goto(`${base}/pindai`);
    await page.setInputFiles("#scan-photo", join(out, "portal-qr-photo.png"));
    await page.locator("#scan-result[data-seal=sah]").waitFor({ timeout: 30_000 }).catch(async (e) => {
      throw new Error(`${e.message}; the page says: ${await page.locator("#scan-status").innerText()}`);
    });
    const open = await page.locator("#scan-open").getAttribute("href");
    check(open && open.startsWith(`/v/${vid}?d=`), `scan offers ${open}`);
    await shot("scan");

    // The unknown code's page answers 404 on purpose; Chromium logs that as a console error.
    const unexpected = problems.filter((p) => !p.includes("status of 404"));
    check(unexpected.length === 0, unexpected.join("; "));
    check(problems.length - unexpected.length === 1, `404s: ${problems.join("; ")}`);
    await context.close();

    // --- A plain-http name that is not localhost: no WebCrypto in the page.
    const insecureBase = `http://portal.test:${port}`;
    const forgedPath = u.pathname + u.search;
    const noCrypto = () => {
      try { delete Crypto.prototype.subtle; } catch (e) { /* already absent */ }
      try { Object.defineProperty(window.crypto, "subtle", { value: undefined }); } catch (e) { /* absent */ }
    };
    for (const fallback of [true, false]) {
      const what = fallback ? "no-webcrypto" : "no-fallback";
      const ctx = await browser.newContext(VIEWPORTS.phone);
      ctx.setDefaultTimeout(ACTION_TIMEOUT_MS);
      ctx.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
      await ctx.addInitScript(noCrypto);
      // Without BigInt (old browsers) the vendored Ed25519 cannot run at all.
      if (!fallback) await ctx.addInitScript(() => { delete globalThis.BigInt; });
      // A BarcodeDetector that exists but is not a constructor (some desktop browsers).
      await ctx.addInitScript(() => { window.BarcodeDetector = {}; });
      const pg = await ctx.newPage();
      const issues = watchProblems(pg, `portal.test:${port}`);
      const sealOf = async () => {
        const box = pg.locator("#seal-offline .seal-result[data-seal]");
        await box.waitFor({ timeout: 30_000 });
        return [await box.getAttribute("data-seal"), await box.innerText()];
      };

      step = `${what}: genuine QR page`;
      await pg.goto(`${insecureBase}${validPath}`);
      check(await pg.evaluate(() => !(window.crypto && crypto.subtle)), "crypto.subtle is still there");
      check(await pg.evaluate(() => !window.isSecureContext), "portal.test counts as a secure context");
      check((await verdictOf(pg)) === "ASLI", `${what}: valid document reads ${await verdictOf(pg)}`);
      let [seal, text] = await sealOf();
      if (fallback) {
        check(seal === "sah" && /SEGEL SAH/.test(text), `${what}: genuine seal reads ${seal}: ${text}`);
      } else {
        check(seal === "tidak-dapat-diperiksa", `${what}: genuine seal reads ${seal}: ${text}`);
        check(/tidak dapat diperiksa di perangkat ini/i.test(text), `${what}: genuine seal text: ${text}`);
      }
      check(!/TIDAK SAH/.test(text), `${what}: a genuine seal is accused: ${text}`);
      await pg.screenshot({ path: join(out, `portal-${what}-genuine.png`), fullPage: true });

      step = `${what}: forged QR page`;
      await pg.goto(`${insecureBase}${forgedPath}`);
      check((await verdictOf(pg)) === "TIDAK ASLI", `${what}: forged QR reads ${await verdictOf(pg)}`);
      [seal, text] = await sealOf();
      // Without the fallback a forgery is still caught when its text is visibly malformed (not
      // the office's format); otherwise it can only read "cannot be checked" — never valid.
      const allowed = fallback ? ["tidak-sah"] : ["tidak-sah", "tidak-dapat-diperiksa"];
      check(allowed.includes(seal), `${what}: forged seal reads ${seal}, want ${allowed}: ${text}`);
      await pg.screenshot({ path: join(out, `portal-${what}-forged.png`), fullPage: true });

      step = `${what}: QR with a changed signature`;
      // Well-formed facts, one signature character changed: only the Ed25519 check can tell.
      const sigForged = new URL(`${base}${validPath}`);
      const sv = sigForged.searchParams.get("s");
      sigForged.searchParams.set("s", (sv[0] === "A" ? "B" : "A") + sv.slice(1));
      await pg.goto(`${insecureBase}${sigForged.pathname}${sigForged.search}`);
      [seal, text] = await sealOf();
      const wantSig = fallback ? "tidak-sah" : "tidak-dapat-diperiksa";
      check(seal === wantSig, `${what}: changed signature reads ${seal}, want ${wantSig}: ${text}`);

      if (fallback) {
        step = `${what}: English wording`;
        await clickAndLoad(pg, "#lang-switch");
        await pg.goto(`${insecureBase}${validPath}`);
        [seal, text] = await sealOf();
        check(seal === "sah" && /VALID SEAL/.test(text), `${what}: English genuine seal reads ${seal}: ${text}`);
        await clickAndLoad(pg, "#lang-switch");
      } else {
        step = `${what}: English wording`;
        await clickAndLoad(pg, "#lang-switch");
        await pg.goto(`${insecureBase}${validPath}`);
        [seal, text] = await sealOf();
        check(/cannot be checked on this device/i.test(text), `${what}: English text: ${text}`);
        await clickAndLoad(pg, "#lang-switch");
      }

      step = `${what}: scan a photo with a BarcodeDetector that is not a constructor`;
      await pg.goto(`${insecureBase}/pindai`);
      await pg.setInputFiles("#scan-photo", join(out, "portal-qr-photo.png"));
      const scanned = pg.locator("#scan-result[data-seal]");
      await scanned.waitFor({ timeout: 30_000 }).catch(async (e) => {
        throw new Error(`${e.message}; the page says: ${await pg.locator("#scan-status").innerText()}`);
      });
      const scanSeal = await scanned.getAttribute("data-seal");
      check(scanSeal === (fallback ? "sah" : "tidak-dapat-diperiksa"), `${what}: scan reads ${scanSeal}`);
      const opened = await pg.locator("#scan-open").getAttribute("href");
      check(opened && opened.startsWith(`/v/${vid}?d=`), `${what}: scan offers ${opened}`);
      await pg.screenshot({ path: join(out, `portal-${what}-scan.png`), fullPage: true });

      check(issues.length === 0, `${what}: ${issues.join("; ")}`);
      await ctx.close();
    }
    // --- Issue 23: every portal state at both sizes fits the window, in the office's look.
    step = "states at both sizes";
    const codes = await (async () => {
      const st = await browser.newContext(VIEWPORTS.desktop);
      const p = await st.newPage();
      await p.goto(`${base}/masuk`);
      await p.fill("input[name=username]", official.username);
      await p.fill("input[name=password]", official.password);
      await clickAndLoad(p, "button[type=submit]");
      await p.goto(`${base}/tte`);
      const c = await p.$$eval("section#published td code", (cs) => cs.map((e) => e.textContent.trim()));
      await st.close();
      return c;
    })();
    for (const viewport of ["phone", "desktop"]) {
      const ctx = await browser.newContext(VIEWPORTS[viewport]);
      ctx.setDefaultTimeout(ACTION_TIMEOUT_MS);
      const pg = await ctx.newPage();
      let expired = null;
      for (const code of codes) {
        await pg.goto(`${base}/v/${code}`);
        if ((await verdictOf(pg)) === "KEDALUWARSA") { expired = code; break; }
      }
      const states = [["valid", validPath], ["forged", forgedPathOf(u)], ["revoked", revokedPath],
        ["unknown", "/v/ZZZZZZZZZZZZ"], ...(expired ? [["expired", `/v/${expired}`]] : [])];
      for (const [what, path] of states) {
        step = `${what} at ${viewport}`;
        await pg.goto(`${base}${path}`);
        check((await horizontalOverflow(pg)) <= 1, `${what}: the page is wider than the ${viewport} window`);
        await checkLook(pg, `${what} (${viewport})`);
        if (what === "expired") {
          // A valid seal under an expired verdict comes with the words that explain it.
          check(/tidak membuat dokumen berlaku/.test(await pg.locator("main").innerText()) || !(await pg.locator("#seal-offline").isVisible()),
            "expired: the seal box has no explanation");
        }
        await pg.screenshot({ path: join(out, `portal-${viewport}-${what}.png`), fullPage: true });
      }
      if (!expired) console.log(`portal: no expired signed permit among ${codes.length} published; KEDALUWARSA not shown at ${viewport}`);
      for (const path of ["/periksa", "/pindai", "/bantuan"]) {
        step = `${path} at ${viewport}`;
        await pg.goto(`${base}${path}`);
        check((await horizontalOverflow(pg)) <= 1, `${path}: wider than the ${viewport} window`);
        check((await pg.locator("#portal-home").getAttribute("href")) === "/periksa", `${path}: logo target`);
        await pg.screenshot({ path: join(out, `portal-${viewport}-${path.slice(1)}.png`), fullPage: true });
      }
      await ctx.close();
    }
    console.log("portal: all checks passed");
  } catch (e) {
    console.error(`portal FAIL at "${step}": ${e.message}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
