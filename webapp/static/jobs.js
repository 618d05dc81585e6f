// The job pages: the list and one job's page stay live by polling the JSON API.
"use strict";
(() => {
  const J = window.jobsys;
  const FINISHED = ["succeeded", "partially_failed", "failed", "cancelled"];

  // Statuses are shown as words: partially_failed is "partially failed".
  const statusText = (value) => J.t(value.replace("_", " "));

  function status(job) {
    return J.el("span", { class: `status status-${job.status}`, text: statusText(job.status) });
  }

  function progress(job) {
    const p = job.progress;
    const bar = J.el("progress", { max: p.total || 1 });
    if (p.total) bar.value = p.done + p.failed; else if (FINISHED.includes(job.status)) bar.value = 1;
    const counts = J.el("span", { class: "counts", text: `${p.done} / ${p.total}` });
    if (p.failed) counts.append(" · ", J.el("span", { class: "bad", text: `${p.failed} ${J.t("failed")}` }));
    return J.el("div", { class: "progress", "data-progress": true }, bar, counts);
  }

  function jobRow(job, operator) {
    const link = J.el("a", { href: `/jobs/${job.id}`, text: J.kind(job.kind) });
    const cells = [link, status(job), progress(job), J.time(job.created_at), J.time(job.started_at), J.time(job.finished_at)];
    if (operator) cells.push(job.owner);
    return J.el("tr", { "data-job": job.id }, ...cells.map((c) => J.el("td", {}, c)));
  }

  function liveList(table) {
    const operator = table.dataset.operator === "1";
    const body = table.tBodies[0];
    J.poll(async () => {
      const data = await J.api("GET", `/api/jobs?limit=${table.dataset.limit}`);
      const rows = data.jobs.map((job) => jobRow(job, operator));
      if (!rows.length) rows.push(J.el("tr", { class: "empty" }, J.el("td", { colspan: 7, text: J.t("No jobs yet.") })));
      body.replaceChildren(...rows);
      return true;
    }, 2000);
  }

  function liveJob(section) {
    const field = (name) => section.querySelector(`[data-field="${name}"]`);
    J.poll(async () => {
      const job = await J.api("GET", section.dataset.api);
      field("status").replaceChildren(status(job));
      field("progress").replaceChildren(progress(job));
      field("started_at").replaceChildren(J.time(job.started_at));
      const error = field("error");
      error.textContent = job.error || "";
      error.hidden = !job.error;
      if (FINISHED.includes(job.status)) { location.reload(); return false; }
      return true;
    }, 2000);
  }

  // A table filled a page at a time from an API list; `pages` is the stack of URLs seen.
  function pagedTable(section, firstUrl, rowOf, emptyText) {
    const body = section.querySelector("tbody");
    const prev = section.querySelector("[data-prev]"), next = section.querySelector("[data-next]");
    const pageLabel = section.querySelector("[data-page]");
    let pages = [firstUrl], nextUrl = null;
    async function show() {
      const data = await J.api("GET", pages[pages.length - 1]);
      const items = data.errors || data.documents;
      const cols = section.querySelectorAll("thead th").length;
      body.replaceChildren(...(items.length ? items.map(rowOf)
        : [J.el("tr", {}, J.el("td", { colspan: cols, class: "muted", text: J.t(emptyText) }))]));
      nextUrl = data.next;
      next.disabled = !nextUrl;
      prev.disabled = pages.length < 2;
      if (pageLabel) pageLabel.textContent = pages.length;
    }
    next.addEventListener("click", () => { if (nextUrl) { pages.push(nextUrl); show(); } });
    prev.addEventListener("click", () => { if (pages.length > 1) { pages.pop(); show(); } });
    return { show, reset(url) { pages = [url]; return show(); } };
  }

  function problems(section) {
    const row = (p) => J.el("tr", {}, ...[p.line, p.column, p.value, p.message].map((v) => J.el("td", { text: v })));
    pagedTable(section, section.dataset.errors, row, "No problems.").show();
  }

  function documents(section) {
    const row = (d) => J.el("tr", {},
      J.el("td", { text: d.seq + 1 }), J.el("td", { text: d.recipient }),
      J.el("td", {}, J.el("span", { class: `status status-${d.status}`, text: statusText(d.status) })),
      J.el("td", { class: "bad", text: d.error || "" }),
      J.el("td", {}, d.download ? J.el("a", { href: d.download, text: J.t("Download") }) : ""));
    const filter = section.querySelector("[data-filter]");
    const url = () => section.dataset.documents + (filter.value ? `&status=${filter.value}` : "");
    const table = pagedTable(section, url(), row, "No documents.");
    filter.addEventListener("change", () => table.reset(url()));
    table.show();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const list = document.querySelector("[data-jobs-list]");
    if (list) liveList(list);
    const detail = document.querySelector("[data-job-detail]");
    if (detail && detail.dataset.finished !== "1") liveJob(detail);
    const errors = document.getElementById("problems");
    if (errors) problems(errors);
    const docs = document.getElementById("documents");
    if (docs) documents(docs);
  });
})();
