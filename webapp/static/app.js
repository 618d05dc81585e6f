// Shared by every page: JSON calls that carry the session's CSRF token.
"use strict";
window.jobsys = {
  csrf() { return document.querySelector('meta[name="csrf-token"]').content; },
  async api(method, path, body) {
    const init = { method, headers: { "X-CSRFToken": this.csrf(), "Accept": "application/json" }, credentials: "same-origin" };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const response = await fetch(path, init);
    const data = response.headers.get("Content-Type", "").includes("json") ? await response.json() : null;
    if (!response.ok) { throw new Error(data && data.error ? data.error.message : response.statusText); }
    return data;
  },
};
