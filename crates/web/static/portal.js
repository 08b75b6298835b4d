// SICANTIK Companion — the public portal's script. The pages work without it; it adds the
// offline check of a QR's seal (in this browser, with the office's public key printed on the
// page: no server, no network) and the camera scanner. Ed25519 through WebCrypto where the
// browser has it, otherwise through the vendored @noble/ed25519 with the vendored SHA-512
// (browsers hide `crypto.subtle` on plain-http pages of a non-localhost host). A check that
// cannot run here says so; it never calls a genuine document changed.
import { sha512 } from "/static/sha512.js";

const enc = new TextEncoder();

// The page's language (the server renders `<html lang="en">` after the English switch).
const EN = document.documentElement.lang === "en";
const T = (id, en) => (EN ? en : id);

function b64url(s) {
  s = s.replace(/-/g, "+").replace(/_/g, "/");
  while (s.length % 4) s += "=";
  const bin = atob(s);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function fromHex(h) {
  return Uint8Array.from((h.match(/../g) || []).map((x) => parseInt(x, 16)));
}

// The vendored Ed25519, loaded only when WebCrypto cannot do it, with SHA-512 from sha512.js
// (its own default asks crypto.subtle). Null when it cannot load here (an old browser without
// BigInt fails to parse it).
let noble = null;
function loadNoble() {
  if (!noble) {
    noble = import("/static/noble-ed25519.js").then(
      (ed) => {
        const hash = (...m) => sha512(ed.etc.concatBytes(...m));
        ed.etc.sha512Sync = hash;
        ed.etc.sha512Async = async (...m) => hash(...m);
        return ed;
      },
      () => null,
    );
  }
  return noble;
}

// RFC 8032 §7.1, test 2: a verifier that does not accept this is broken in this browser, and
// its "no" would mean nothing.
const KAT = {
  pk: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
  msg: "72",
  sig: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
};
let selfTest = null;
function fallbackWorks(ed) {
  if (!selfTest) {
    selfTest = (async () => {
      try {
        const good = await ed.verifyAsync(fromHex(KAT.sig), fromHex(KAT.msg), fromHex(KAT.pk));
        const bad = await ed.verifyAsync(fromHex(KAT.sig), fromHex("73"), fromHex(KAT.pk));
        return good === true && bad === false;
      } catch (e) {
        return false;
      }
    })();
  }
  return selfTest;
}

// true (valid), false (checked: not valid) or null (cannot be checked in this browser).
async function ed25519Verify(sig, msg, pk) {
  if (window.crypto && crypto.subtle) {
    try {
      const key = await crypto.subtle.importKey("raw", pk, { name: "Ed25519" }, false, ["verify"]);
      return await crypto.subtle.verify({ name: "Ed25519" }, key, sig, msg);
    } catch (e) {
      // No Ed25519 in this browser's WebCrypto: the vendored implementation below.
    }
  }
  const ed = await loadNoble();
  if (!ed || typeof BigInt !== "function") return null;
  let ok;
  try {
    ok = await ed.verifyAsync(sig, msg, pk);
  } catch (e) {
    return null;
  }
  if (ok === true) return true;
  // A "no" counts only from a verifier that passes the known answer test.
  return (await fallbackWorks(ed)) ? false : null;
}

// Checks a QR text `…/v/<id>?d=<facts>&s=<signature>` against the office's public key.
export async function checkSeal(text, publicKeyHex) {
  const m = /\/v\/([A-Za-z0-9]+)\?d=([A-Za-z0-9_-]+)&s=([A-Za-z0-9_-]+)/.exec(text || "");
  if (!m) return { ok: false, reason: T("Bukan kode QR dokumen DPMPTSP Kabupaten Karo.", "Not the QR code of a DPMPTSP Kabupaten Karo document.") };
  const [, vid, d, s] = m;
  let facts = "";
  let sig = null;
  let msg = null;
  try {
    facts = new TextDecoder("utf-8", { fatal: true }).decode(b64url(d));
    msg = enc.encode("sicantik-companion/seal/v1\n" + vid + "\n" + facts);
    sig = b64url(s);
  } catch (e) {
    // Not decodable: the QR's text was changed.
  }
  const path = "/v/" + vid + "?d=" + d + "&s=" + s;
  const p = facts.split("|");
  const wellFormed = sig !== null && sig.length === 64 && p[0] === "SCV1" && p.length === 6;
  let ok = false;
  if (wellFormed) {
    try {
      ok = await ed25519Verify(sig, msg, fromHex(publicKeyHex));
    } catch (e) {
      ok = null;
    }
  }
  if (ok === null) {
    return {
      ok: false,
      unknown: true,
      vid,
      path,
      facts: null,
      reason: T(
        "Peramban ini tidak dapat menjalankan pemeriksaan segel. Ini bukan tanda dokumen palsu: hasil pemeriksaan server pada halaman verifikasi dokumen tetap berlaku.",
        "This browser cannot run the seal check. This is no sign of a forgery: the server's result on the document's verification page still stands.",
      ),
    };
  }
  const valid = ok === true && wellFormed;
  return {
    ok: valid,
    vid,
    path,
    facts: valid ? { number: p[1], holder: p[2], type: p[3], issued: p[4], expires: p[5] } : null,
    reason: valid ? "" : T("Segel tidak sah: isi kode QR telah diubah atau bukan dari kantor ini.", "Invalid seal: the QR code was changed or is not from this office."),
  };
}

function show(box, result) {
  box.hidden = false;
  box.className = "seal-result " + (result.ok ? "ok" : result.unknown ? "unknown" : "danger");
  box.setAttribute("data-seal", result.ok ? "sah" : result.unknown ? "tidak-dapat-diperiksa" : "tidak-sah");
  box.textContent = "";
  const title = document.createElement("p");
  title.className = "word";
  title.textContent = result.ok
    ? T("SEGEL SAH", "VALID SEAL")
    : result.unknown
      ? T("Segel tidak dapat diperiksa di perangkat ini", "The seal cannot be checked on this device")
      : T("SEGEL TIDAK SAH", "INVALID SEAL");
  box.appendChild(title);
  const note = document.createElement("p");
  note.textContent = result.ok
    ? T("Diperiksa di perangkat ini dengan kunci publik kantor, tanpa menghubungi server.", "Checked on this device with the office's public key, without contacting the server.")
    : result.reason;
  box.appendChild(note);
  if (result.ok && result.facts) {
    const dl = document.createElement("dl");
    dl.className = "facts";
    for (const [k, v] of [
      [T("Nomor izin", "Permit number"), result.facts.number],
      [T("Pemegang", "Holder"), result.facts.holder],
      [T("Jenis izin", "Permit type"), result.facts.type],
      [T("Terbit", "Issued"), result.facts.issued],
      [T("Berlaku s.d.", "Valid until"), result.facts.expires || "—"],
    ]) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      dl.append(dt, dd);
    }
    box.appendChild(dl);
  }
}

// The QR page: check the seal of the address it was opened with.
const offline = document.getElementById("seal-offline");
if (offline) {
  const key = offline.getAttribute("data-public-key");
  const run = () => checkSeal(location.pathname + location.search, key).then((r) => show(offline.querySelector(".seal-result"), r));
  if (location.search.indexOf("d=") >= 0) {
    offline.hidden = false;
    run();
    const again = offline.querySelector("button");
    if (again) again.addEventListener("click", run);
  }
}

// The scan page: camera (BarcodeDetector, or the vendored jsQR) or a photo.
const scan = document.getElementById("scan");
if (scan) {
  const key = scan.getAttribute("data-public-key");
  const status = document.getElementById("scan-status");
  const out = document.getElementById("scan-result");
  const link = document.getElementById("scan-open");
  const video = document.getElementById("camera");
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  let stream = null;
  // The built-in reader, when this browser has a working one: some expose a BarcodeDetector
  // that is not a constructor, or one that throws when made.
  let detector = null;
  try {
    if (typeof window.BarcodeDetector === "function") {
      detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      if (!detector || typeof detector.detect !== "function") detector = null;
    }
  } catch (e) {
    detector = null;
  }
  // The vendored reader is downloaded only when needed: no built-in reader, or one that found
  // nothing (some desktop browsers expose BarcodeDetector without a working backend).
  let jsqr = null;
  function loadJsqr() {
    if (!jsqr) {
      jsqr = new Promise((resolve) => {
        const s = document.createElement("script");
        s.src = "/static/jsQR.js";
        s.onload = resolve;
        s.onerror = resolve;
        document.head.appendChild(s);
      });
    }
    return jsqr;
  }

  async function decode(source, w, h) {
    if (detector) {
      try {
        const codes = await detector.detect(source);
        if (codes.length) return codes[0].rawValue;
      } catch (e) {
        // fall through to jsQR
      }
    }
    await loadJsqr();
    if (!window.jsQR || !w || !h) return null;
    canvas.width = w;
    canvas.height = h;
    ctx.drawImage(source, 0, 0, w, h);
    const img = ctx.getImageData(0, 0, w, h);
    const code = window.jsQR(img.data, w, h);
    return code ? code.data : null;
  }

  async function found(text) {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    const r = await checkSeal(text, key);
    show(out, r);
    status.textContent = T("Kode QR terbaca.", "QR code read.");
    if (r.vid) {
      // Always this portal's own page for the code, whatever host the QR names.
      link.href = r.path;
      link.hidden = false;
    }
  }

  async function tick() {
    if (!stream) return;
    if (video.readyState >= 2) {
      const text = await decode(video, video.videoWidth, video.videoHeight);
      if (text) return found(text);
    }
    requestAnimationFrame(tick);
  }

  document.getElementById("scan-start").addEventListener("click", async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      status.textContent = T("Arahkan kamera ke kode QR pada dokumen…", "Point the camera at the QR code on the document…");
      requestAnimationFrame(tick);
    } catch (e) {
      status.textContent = T("Kamera tidak dapat dibuka. Pilih foto kode QR, atau masukkan kodenya di bawah.", "The camera cannot be opened. Choose a photo of the QR code, or enter its code below.");
    }
  });

  document.getElementById("scan-photo").addEventListener("change", async (ev) => {
    const file = ev.target.files && ev.target.files[0];
    if (!file) return;
    status.textContent = T("Membaca foto…", "Reading the photo…");
    const img = new Image();
    img.src = URL.createObjectURL(file);
    await img.decode();
    const text = await decode(img, img.naturalWidth, img.naturalHeight);
    if (text) found(text);
    else status.textContent = T("Tidak ada kode QR yang terbaca pada foto ini.", "No QR code could be read in this photo.");
  });
}
