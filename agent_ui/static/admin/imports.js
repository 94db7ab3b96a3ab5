// Bulk provisioning: upload a workbook or CSV, fix the rows it flags in the grid, re-validate,
// read the dry run, apply, and show the SIP secrets it generated (once); then, in one click,
// signup links for every agent the import created or updated.

import { el, row, status } from "/static/common/dom.js";
import { csrf, request } from "/static/common/http.js";
import { validityPicker } from "./signup_links.js";

const $ = (id) => document.getElementById(id);
const api = (method, path, body) => request(method, path, { body });
const KEYS = ["action", "username", "first_name", "last_name", "email", "extension",
  "endpoint_secret", "groups", "role", "salesforce_user"];
const SITE_KEYS = {
  locations: ["name", "street", "city", "region", "postal_code", "country", "floor_room", "callback"],
  devices: ["mac", "model", "user", "location"],
};
const APPLY_POLL_MS = 500;

let importId = null;
let onSignup = () => {};

/** Send the file as it is (an octet stream), with upload progress; resolve with the session. */
function upload(file) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const bar = $("upload-progress");
    bar.hidden = false;
    bar.value = 0;
    xhr.open("POST", `/api/admin/imports?filename=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("X-CTI-CSRF", csrf());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 90);
    });
    xhr.addEventListener("load", () => {
      bar.value = 100;
      let data = {};
      try { data = JSON.parse(xhr.responseText); } catch (err) { data = {}; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new Error(data.message || `HTTP ${xhr.status}`));
    });
    xhr.addEventListener("error", () => reject(new Error("the upload failed")));
    status(`Uploading and validating ${file.name}...`);
    xhr.send(file);
  });
}

function cellInput(r, key, bad) {
  const input = el("input", { attrs: { "data-key": key, "aria-label": `row ${r.row}, ${key}` } });
  input.value = r.cells[key] || "";
  return el("td", { class: bad.has(`${r.row}:${key}`) ? "bad" : "" }, input);
}

function showImport(data) {
  importId = data.id;
  $("import").hidden = false;
  $("results").hidden = true;
  const c = data.counts;
  $("import-summary").textContent = `${data.file}: ${data.rows} rows validated in ${data.validate_ms} ms. ` +
    (data.ok ? `Ready: ${c.create} to create, ${c.update} to update, ${c.delete} to delete, ${c.ignore} ignored.`
      : `${data.errors.length} errors; nothing was changed.`);
  const bad = new Set(data.errors.map((e) => `${e.row}:${e.column}`));
  $("error-list").replaceChildren(...data.errors.map((e) => el("li", {
    text: `${e.sheet && e.sheet !== "agents" ? `${e.sheet} sheet, ` : ""}row ${e.row}, ${e.title}: ${e.reason}`,
  })));
  showSiteCells(data.site_cells || {}, data.errors);
  $("errors-title").hidden = data.ok;
  $("cell-head").replaceChildren(el("tr", {}, ...["row", ...KEYS].map((k) => el("th", { text: k }))));
  $("cell-rows").replaceChildren(...(data.ok ? [] : data.cells.map((r) => {
    const tr = row(String(r.row), ...KEYS.map((key) => cellInput(r, key, bad)));
    tr.dataset.row = r.row;
    return tr;
  })));
  $("cells").hidden = data.ok;
  $("revalidate").hidden = data.ok;
  $("change-rows").replaceChildren(...data.changes.map((ch) => {
    const what = Object.entries(ch.diff).map(([k, v]) => `${k}: ${v[0]} -> ${v[1]}`).join("; ");
    return row(ch.row, el("td", { class: `${ch.kind}d`, text: ch.kind }), ch.username, ch.extension || "", what);
  }));
  $("apply-import").disabled = !data.ok;
}

/** The site sheets' rows with errors, each cell editable (fixed in place like the agents'). */
function showSiteCells(sheets, errors) {
  const bad = new Set(errors.map((e) => `${e.sheet}:${e.row}:${e.column}`));
  $("site-cells").replaceChildren(...Object.entries(sheets).filter(([, rows]) => rows.length).map(([sheet, rows]) =>
    el("table", { class: "table cells", attrs: { "data-sheet": sheet, "aria-label": `${sheet} sheet rows to fix` } },
      el("thead", {}, el("tr", {}, ...[`${sheet} row`, ...SITE_KEYS[sheet]].map((k) => el("th", { text: k })))),
      el("tbody", {}, ...rows.map((r) => {
        const tr = row(String(r.row), ...SITE_KEYS[sheet].map((key) => {
          const input = el("input", { attrs: { "data-key": key, "aria-label": `${sheet} row ${r.row}, ${key}` } });
          input.value = r.cells[key] || "";
          return el("td", { class: bad.has(`${sheet}:${r.row}:${key}`) ? "bad" : "" }, input);
        }));
        tr.dataset.row = r.row;
        tr.dataset.sheet = sheet;
        return tr;
      })))));
}

function showResults(data) {
  $("import").hidden = true;
  $("results").hidden = false;
  const c = data.result.counts;
  $("result-counts").textContent =
    `Created ${c.create}, updated ${c.update}, deleted ${c.delete}, ignored ${c.ignore}.`;
  $("secret-rows").replaceChildren(...Object.entries(data.result.secrets || {}).map(([user, secret]) => row(user, secret)));
  const valid = validityPicker("import-valid");
  const applied = data.id;
  $("import-signup").replaceChildren(
    el("button", { class: "button", text: "Issue signup links to these agents", attrs: { type: "button", id: "import-signup-issue" },
      on: { click: () => onSignup(applied, valid.value) } }), "valid for", valid);
}

async function apply() {
  let data = await api("POST", `/api/admin/imports/${importId}/apply`);
  if (!data.ok) {
    showImport(data);
    return;
  }
  importId = data.id;
  const bar = $("apply-progress");
  bar.hidden = false;
  const total = Math.max(1, data.counts.create + data.counts.update + data.counts.delete + data.counts.ignore);
  while (data.state === "applying") {
    bar.value = Math.round((data.done / total) * 100);
    await new Promise((r) => setTimeout(r, APPLY_POLL_MS));
    data = await api("GET", `/api/admin/imports/${importId}`);
  }
  bar.value = 100;
  if (data.state !== "applied") throw new Error(data.error || "the import failed");
  showResults(data);
}

/** Wire the Agents tab; `signup(importId, validForS)` issues the applied import's links. */
export function wireImports(guarded, signup) {
  onSignup = (id, valid) => guarded(() => signup(id, valid));
  $("upload-form").addEventListener("submit", (event) => guarded(async () => {
    event.preventDefault();
    showImport(await upload(new FormData(event.target).get("file")));
  }));
  $("revalidate").addEventListener("click", () => guarded(async () => {
    const rows = [...$("cell-rows").children, ...$("site-cells").querySelectorAll("tbody tr")].map((tr) => {
      const cells = {};
      for (const input of tr.querySelectorAll("input")) cells[input.dataset.key] = input.value;
      return { row: Number(tr.dataset.row), cells, sheet: tr.dataset.sheet || "agents" };
    });
    showImport(await api("POST", `/api/admin/imports/${importId}/rows`, { rows }));
  }));
  $("apply-import").addEventListener("click", () => guarded(apply));
}
