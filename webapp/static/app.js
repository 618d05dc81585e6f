// Shared by every page: JSON calls that carry the session's CSRF token, uploads
// straight to the bucket, translated texts and small DOM helpers.
"use strict";
window.jobsys = {
  csrf() { return document.querySelector('meta[name="csrf-token"]').content; },
  async api(method, path, body) {
    const init = { method, headers: { "X-CSRFToken": this.csrf(), "Accept": "application/json" }, credentials: "same-origin" };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const response = await fetch(path, init);
    const data = (response.headers.get("Content-Type") || "").includes("json") ? await response.json() : null;
    if (!response.ok) {
      const error = data && data.error;
      throw new Error(error ? (error.field ? error.field + ": " : "") + error.message : response.statusText);
    }
    return data;
  },
  // Send a file to a presigned S3 POST ({url, fields, file_field}); onProgress(0..100).
  upload(upload, file, onProgress) {
    return new Promise((resolve, reject) => {
      const form = new FormData();
      for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
      form.append(upload.file_field || "file", file);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", upload.url);
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(Math.round(100 * e.loaded / e.total)); };
      xhr.onload = () => (xhr.status >= 200 && xhr.status < 300) ? (onProgress(100), resolve())
        : reject(new Error(`HTTP ${xhr.status} ${(xhr.responseText.match(/<Message>(.*?)<\/Message>/) || [])[1] || ""}`.trim()));
      xhr.onerror = () => reject(new Error("the storage service could not be reached"));
      xhr.send(form);
    });
  },
  _texts: null,
  t(key, values) {
    if (this._texts === null) {
      const node = document.getElementById("texts");
      this._texts = node ? JSON.parse(node.textContent) : {};
    }
    const text = this._texts[key] !== undefined ? this._texts[key] : key;
    return values ? text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m)) : text;
  },
  kind(kind) { return (this.t("kinds") || {})[kind] || kind; },
  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value; else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  },
  // Times in the reader's time zone, written the way the page's language writes them.
  localTime(iso) { return new Date(iso).toLocaleString(document.documentElement.lang || undefined); },
  time(iso) {
    if (!iso) return document.createTextNode("—");
    return this.el("time", { datetime: iso, text: this.localTime(iso) });
  },
  localTimes(root) {
    for (const node of (root || document).querySelectorAll("time[datetime]")) node.textContent = this.localTime(node.getAttribute("datetime"));
  },
  // Call fn every `ms` while it returns true; pauses while the tab is hidden.
  poll(fn, ms) {
    const tick = async () => {
      let again = true;
      if (!document.hidden) { try { again = await fn(); } catch (e) { console.warn(e); } }
      if (again !== false) setTimeout(tick, ms);
    };
    setTimeout(tick, ms);
  },
};
document.addEventListener("DOMContentLoaded", () => jobsys.localTimes());
