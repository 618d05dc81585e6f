// The forms that start jobs: files go to the bucket through a presigned POST with
// a progress bar, then the job is created through the JSON API.
"use strict";
(() => {
  const J = window.jobsys;

  function fail(form, error) {
    const box = form.querySelector("[data-form-error]");
    box.textContent = error.message || String(error);
    box.hidden = false;
    form.querySelector("button[type=submit]").disabled = false;
  }

  // Upload the form's file through `ask` (which returns {key, upload}); resolves to the answer.
  async function sendFile(form, ask) {
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) throw new Error(J.t("Choose a file to upload."));
    const answer = await ask(file);
    const box = form.querySelector("[data-upload]"), bar = box.querySelector("progress");
    const text = box.querySelector("[data-upload-text]");
    box.hidden = false;
    await J.upload(answer.upload, file, (percent) => {
      bar.value = percent;
      text.textContent = J.t("Uploading… {percent}%", { percent });
    });
    text.textContent = J.t("Uploaded; starting the job…");
    return answer;
  }

  function onSubmit(form, start) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      form.querySelector("[data-form-error]").hidden = true;
      form.querySelector("button[type=submit]").disabled = true;
      try {
        const job = await start();
        location.assign(`/jobs/${job.id}`);
      } catch (error) { fail(form, error); }
    });
  }

  function pdfForm(form) {
    const template = form.elements.template;
    const showColumns = () => form.querySelectorAll("[data-columns-of]").forEach((p) => { p.hidden = p.dataset.columnsOf !== template.value; });
    template.addEventListener("change", showColumns);
    const source = () => form.querySelector("input[name=source]:checked").value;
    form.querySelectorAll("input[name=source]").forEach((radio) => radio.addEventListener("change", () => {
      form.querySelectorAll("[data-source]").forEach((div) => { div.hidden = div.dataset.source !== source(); });
    }));
    onSubmit(form, async () => {
      const params = { template: template.value };
      if (source() === "table") params.table = form.elements.table.value;
      else params.csv = (await sendFile(form, (file) => J.api("POST", "/api/pdf/uploads", { filename: file.name }))).key;
      return J.api("POST", "/api/jobs", { kind: "pdf_batch", params });
    });
  }

  async function importForm(form) {
    const select = form.elements.dataset, about = form.querySelector("[data-dataset-columns]");
    const { datasets } = await J.api("GET", form.getAttribute("data-datasets"));
    select.replaceChildren(...datasets.map((d) => J.el("option", { value: d.name, text: d.description ? `${d.name} — ${d.description}` : d.name })));
    const describe = () => {
      const d = datasets.find((x) => x.name === select.value);
      about.textContent = d ? d.columns.map((c) => c.name + (c.required ? ` (${J.t("required")})` : "")
        + (c.aliases.length ? ` [${c.aliases.join(", ")}]` : "")).join(" · ") : "";
    };
    select.addEventListener("change", describe);
    describe();
    onSubmit(form, async () => {
      const answer = await sendFile(form, (file) => J.api("POST", "/api/imports/uploads", {
        dataset: select.value, filename: file.name, encoding: form.elements.encoding.value,
        max_bad_rows: parseInt(form.elements.max_bad_rows.value || "0", 10),
      }));
      return J.api("POST", answer.complete.url, answer.complete.body);
    });
  }

  const TYPED = {
    integer: (v) => { const n = Number(v); if (!Number.isInteger(n)) throw new Error(`${v}: not a whole number`); return n; },
    boolean: (v) => ["true", "1", "yes"].includes(v.toLowerCase()),
  };
  const typed = (type, v) => (TYPED[type] ? TYPED[type](v.trim()) : v.trim());

  function exportForm(form) {
    const datasets = JSON.parse(document.getElementById("datasets").textContent);
    const columnsBox = form.querySelector("[data-columns]"), filtersBox = form.querySelector("[data-filters]");
    const spec = () => datasets.find((d) => d.name === form.elements.dataset.value);
    const showColumns = () => {
      columnsBox.replaceChildren(...spec().columns.map((c) => J.el("label", { class: "check" },
        J.el("input", { type: "checkbox", name: "column", value: c.name, checked: true }), ` ${c.name}`)));
      filtersBox.replaceChildren();
    };
    const addFilter = () => {
      const filterable = spec().columns.filter((c) => c.filters.length);
      const column = J.el("select", { "data-f": "column" }, ...filterable.map((c) => J.el("option", { value: c.name, text: c.name })));
      const op = J.el("select", { "data-f": "op" });
      const setOps = () => op.replaceChildren(...filterable.find((c) => c.name === column.value).filters.map((f) => J.el("option", { value: f, text: f })));
      column.addEventListener("change", setOps);
      setOps();
      const remove = J.el("button", { type: "button", class: "link", text: J.t("Remove") });
      const row = J.el("div", { class: "filter" }, column, op, J.el("input", { "data-f": "value", required: true }), remove);
      remove.addEventListener("click", () => row.remove());
      filtersBox.append(row);
    };
    const filters = () => [...filtersBox.querySelectorAll(".filter")].map((row) => {
      const get = (name) => row.querySelector(`[data-f="${name}"]`).value;
      const type = spec().columns.find((c) => c.name === get("column")).type;
      const value = get("op") === "in" ? get("value").split(",").map((v) => typed(type, v)) : typed(type, get("value"));
      return { column: get("column"), op: get("op"), value };
    });
    form.elements.dataset.addEventListener("change", showColumns);
    form.querySelector("[data-add-filter]").addEventListener("click", addFilter);
    showColumns();
    onSubmit(form, async () => {
      const columns = [...form.querySelectorAll("input[name=column]:checked")].map((c) => c.value);
      if (!columns.length) throw new Error(J.t("Choose at least one column."));
      return J.api("POST", "/api/jobs", { kind: "export", params: {
        dataset: form.elements.dataset.value, columns, filters: filters(),
        encoding: form.elements.encoding.value, gzip: form.elements.gzip.checked } });
    });
  }

  const FORMS = { pdf: pdfForm, import: importForm, export: exportForm };
  document.addEventListener("DOMContentLoaded", () => {
    // form.dataset would be the form's "dataset" field: read the attribute itself.
    const form = document.querySelector("form[data-start]");
    if (form) Promise.resolve(FORMS[form.getAttribute("data-start")](form)).catch((error) => fail(form, error));
  });
})();
