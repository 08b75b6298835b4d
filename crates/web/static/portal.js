// SICANTIK Companion — the public portal's script. The pages work without it; it adds the
// offline check of a QR's seal (in this browser, with the office's public key printed on the
// page: no server, no network) and the camera scanner. Ed25519 through WebCrypto where the
// browser has it, otherwise through the vendored @noble/ed25519.
import { verifyAsync } from "/static/noble-ed25519.js";

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

async function ed25519Verify(sig, msg, pk) {
  if (window.crypto && crypto.subtle) {
    try {
      const key = await crypto.subtle.importKey("raw", pk, { name: "Ed25519" }, false, ["verify"]);
      return await crypto.subtle.verify({ name: "Ed25519" }, key, sig, msg);
    } catch (e) {
      // No Ed25519 in this browser's WebCrypto: the vendored implementation below.
    }
  }
  return verifyAsync(sig, msg, pk);
}

// Checks a QR text `…/v/<id>?d=<facts>&s=<signature>` against the office's public key.
export async function checkSeal(text, publicKeyHex) {
  const m = /\/v\/([A-Za-z0-9]+)\?d=([A-Za-z0-9_-]+)&s=([A-Za-z0-9_-]+)/.exec(text || "");
  if (!m) return { ok: false, reason: T("Bukan kode QR dokumen DPMPTSP Kabupaten Karo.", "Not the QR code of a DPMPTSP Kabupaten Karo document.") };
  const [, vid, d, s] = m;
  let facts = "";
  let ok = false;
  try {
    facts = new TextDecoder().decode(b64url(d));
    const msg = enc.encode("sicantik-companion/seal/v1\n" + vid + "\n" + facts);
    ok = await ed25519Verify(b64url(s), msg, fromHex(publicKeyHex));
  } catch (e) {
    ok = false;
  }
  const p = facts.split("|");
  const valid = ok && p[0] === "SCV1" && p.length === 6;
  return {
    ok: valid,
    vid,
    path: "/v/" + vid + "?d=" + d + "&s=" + s,
    facts: valid ? { number: p[1], holder: p[2], type: p[3], issued: p[4], expires: p[5] } : null,
    reason: valid ? "" : T("Segel tidak sah: isi kode QR telah diubah atau bukan dari kantor ini.", "Invalid seal: the QR code was changed or is not from this office."),
  };
}

function show(box, result) {
  box.hidden = false;
  box.className = "seal-result " + (result.ok ? "ok" : "danger");
  box.setAttribute("data-seal", result.ok ? "sah" : "tidak-sah");
  box.textContent = "";
  const title = document.createElement("p");
  title.className = "word";
  title.textContent = result.ok ? T("SEGEL SAH", "VALID SEAL") : T("SEGEL TIDAK SAH", "INVALID SEAL");
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
  const detector = "BarcodeDetector" in window ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
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
