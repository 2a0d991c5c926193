// trove owner UI: progressive enhancements only. Every page works without
// this script.
"use strict";

// Upload with progress: the same multipart form, sent with XHR so the
// browser can report how much has gone.
function enhanceUpload() {
  const form = document.getElementById("upload");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  const box = document.getElementById("upload-progress");
  const bar = box.querySelector("progress");
  const label = box.querySelector("span");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    box.hidden = false;
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.round((100 * e.loaded) / e.total);
      bar.value = pct;
      label.textContent = pct < 100 ? "Uploading… " + pct + "%" : "Encrypting and storing…";
    });
    xhr.addEventListener("load", () => {
      // The server answers with the page to show (after a redirect on success).
      if (xhr.status === 200 && xhr.responseURL) {
        window.location.assign(xhr.responseURL);
      } else {
        document.open();
        document.write(xhr.responseText);
        document.close();
      }
    });
    xhr.addEventListener("error", () => { label.textContent = "The upload failed. Check the vault is running and try again."; });
    xhr.send(new FormData(form));
  });
}

// Re-check an entry's inclusion proof in the browser (RFC 6962), with the
// numbers the page shows, so the owner need not take the server's word.
async function browserCheck() {
  const el = document.getElementById("browser-check");
  if (!el || !window.crypto || !crypto.subtle) return;
  const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
  const unhex = (s) => new Uint8Array(s.match(/../g).map((h) => parseInt(h, 16)));
  const sha = async (...parts) => {
    const n = parts.reduce((a, p) => a + p.length, 0);
    const buf = new Uint8Array(n);
    let o = 0;
    for (const p of parts) { buf.set(p, o); o += p.length; }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
  };
  const entry = Uint8Array.from(atob(el.dataset.entry), (c) => c.charCodeAt(0));
  let index = BigInt(el.dataset.index);
  let size = BigInt(el.dataset.size);
  const proof = el.dataset.proof ? el.dataset.proof.split(" ").map(unhex) : [];
  let h = await sha(Uint8Array.of(0), entry);
  // RFC 9162 section 2.1.3.2: verify an inclusion proof.
  let fn = index, sn = size - 1n;
  for (const p of proof) {
    if (sn === 0n) { h = null; break; }
    if ((fn & 1n) === 1n || fn === sn) {
      h = await sha(Uint8Array.of(1), p, h);
      if ((fn & 1n) === 0n) { while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; } }
    } else {
      h = await sha(Uint8Array.of(1), h, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  const ok = h !== null && sn === 0n && hex(h) === el.dataset.root;
  el.textContent = ok ? "Your browser re-checked this proof too: it holds." : "Your browser could not re-check this proof.";
  el.dataset.result = ok ? "ok" : "bad";
  el.hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  enhanceUpload();
  browserCheck();
});
