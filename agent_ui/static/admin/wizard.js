// The site setup wizard: locations (emergency address, callback number) -> numbers (porting,
// letters of authorisation) -> users (one, or the template import of the Agents tab) -> devices
// (MAC and model) -> completion (apply the Asterisk config). The step reached is stored on the
// server, so the wizard resumes there. Every value goes in with textContent (el()); a field the
// server refused is marked aria-invalid with its message beside it.

import { el, row, status } from "/static/common/dom.js";
import { csrf, request } from "/static/common/http.js";
import { SignupPanel } from "./signup_links.js";

const STEPS = [
  ["locations", "Locations"],
  ["numbers", "Numbers"],
  ["users", "Users"],
  ["devices", "Devices"],
  ["completion", "Completion"],
];
const ADDRESS = [
  ["street", "Street", true], ["city", "City", true], ["region", "State / region", false],
  ["postal_code", "Postal code", true], ["country", "Country (2 letters)", true],
  ["floor_room", "Floor / room", false],
];
const api = (method, path, body) => request(method, path, { body });

function field(label, name, attrs = {}) {
  return el("label", {}, label, el("input", { attrs: { name, ...attrs } }),
    el("span", { class: "field-error", attrs: { "data-error-for": name, role: "alert" } }));
}

/** Mark the field the server named (details.field, or each of details.errors). */
function showErrors(form, err) {
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
  const errors = err.details?.errors || [{ field: err.details?.field, message: err.message, row: null }];
  for (const e of errors) {
    const name = e.row === null || e.row === undefined ? e.field : `${e.row}.${e.field}`;
    const input = form.querySelector(`[name="${CSS.escape(name || "")}"]`);
    const slot = form.querySelector(`[data-error-for="${CSS.escape(name || "")}"]`);
    if (input) input.setAttribute("aria-invalid", "true");
    if (slot) slot.textContent = e.message;
  }
  status(err.message, true);
}

function submitting(form, work, after) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      status("");
      await work(new FormData(form));
      form.reset();
      await after();
    } catch (err) {
      showErrors(form, err);
    }
  });
}

export class Wizard {
  constructor(root, showTab) {
    this.root = root;
    this.showTab = showTab;
    this.state = null;
    this.step = "locations";
  }

  async load() {
    this.state = await api("GET", "/api/site");
    this.step = this.state.step;
    this.render();
  }

  async go(step) {
    await api("PUT", "/api/site/step", { step });
    this.step = step;
    this.render();
  }

  render() {
    const nav = el("ol", { class: "wizard-steps", attrs: { "aria-label": "Setup steps" } },
      ...STEPS.map(([key, label], i) => el("li", {},
        el("button", {
          class: key === this.step ? "button primary" : "button ghost", text: `${i + 1}. ${label}`,
          attrs: { type: "button", "aria-current": key === this.step ? "step" : null },
          on: { click: () => this.go(key).catch((e) => status(e.message, true)) },
        }))));
    const body = this[this.step]();
    const index = STEPS.findIndex(([key]) => key === this.step);
    const next = index < STEPS.length - 1 ? el("button", {
      class: "button primary", text: "Save and continue", attrs: { type: "button", id: "wizard-next" },
      on: { click: () => this.go(STEPS[index + 1][0]).catch((e) => status(e.message, true)) },
    }) : null;
    this.root.replaceChildren(nav, body, el("div", { class: "form-actions" }, next));
    this.root.querySelector("input, select, button.primary")?.focus();
  }

  locations() {
    const form = el("form", { class: "form-grid", attrs: { id: "location-form" } },
      field("Name", "name", { required: true, maxlength: 64 }),
      ...ADDRESS.map(([key, label, required]) => field(label, `address.${key}`, { required })),
      field("Emergency callback number", "callback", { required: true, type: "tel" }),
      el("p", { class: "note", text: "The address above is the emergency (E911) address sent with calls from this location's devices." }),
      el("button", { class: "button", text: "Add location", attrs: { type: "submit" } }));
    submitting(form, async (data) => {
      const address = Object.fromEntries(ADDRESS.map(([key]) => [key, data.get(`address.${key}`)]));
      await api("POST", "/api/site/locations",
        { name: data.get("name"), address, same_as_address: true, callback: data.get("callback") });
    }, () => this.load());
    const rows = this.state.locations.map((l) => row(l.name,
      `${l.emergency.street}, ${l.emergency.city} ${l.emergency.postal_code} ${l.emergency.country}`,
      l.callback, l.devices));
    return el("div", { class: "panel" }, el("h2", { text: "Locations and emergency addresses" }),
      table(["name", "emergency address", "callback", "devices"], rows, "location-rows"), form);
  }

  numbers() {
    const locs = this.state.locations.map((l) => el("option", { text: l.name, attrs: { value: l.name } }));
    const form = el("form", { class: "form-grid", attrs: { id: "number-form" } },
      field("Number", "0.number", { required: true, type: "tel" }),
      el("label", {}, "Status", el("select", { attrs: { name: "0.status" } },
        ...["active", "porting", "failed"].map((s) => el("option", { text: s, attrs: { value: s } })))),
      field("Port due (porting)", "0.due_date", { type: "date" }),
      field("Why it failed (failed)", "0.reason"),
      el("label", {}, "Location", el("select", { attrs: { name: "0.location" } },
        el("option", { text: "(none)", attrs: { value: "" } }), ...locs)),
      el("button", { class: "button", text: "Add number", attrs: { type: "submit" } }));
    submitting(form, async (data) => {
      const one = {};
      for (const key of ["number", "status", "due_date", "reason", "location"]) one[key] = data.get(`0.${key}`) || null;
      await api("POST", "/api/site/numbers", { numbers: [one] });
    }, () => this.load());
    const rows = this.state.numbers.map((n) => {
      const upload = el("input", { attrs: { type: "file", accept: "application/pdf,image/png,image/jpeg", "aria-label": `Letter of authorisation for +${n.number}` } });
      upload.addEventListener("change", () => this.upload(n.number, upload));
      const detail = n.status === "porting" ? `due ${n.due_date}` : n.status === "failed" ? n.reason : "";
      return row(`+${n.number}`, n.status, detail, n.location || "",
        n.status === "porting" ? (n.loa_name ? `${n.loa_name} (${n.loa_bytes} bytes)` : el("td", {}, upload)) : "");
    });
    return el("div", { class: "panel" }, el("h2", { text: "Numbers and porting" }),
      table(["number", "status", "", "location", "letter of authorisation"], rows, "number-rows"), form);
  }

  async upload(number, input) {
    const file = input.files[0];
    if (!file) return;
    const url = `/api/site/numbers/${encodeURIComponent(number)}/letter?filename=${encodeURIComponent(file.name)}`;
    const reply = await fetch(url, {
      method: "POST", body: file, credentials: "same-origin",
      headers: { "X-CTI-CSRF": csrf(), "Content-Type": "application/octet-stream" },
    });
    if (!reply.ok) {
      const data = await reply.json().catch(() => ({}));
      input.setAttribute("aria-invalid", "true");
      status(data.message || `upload failed (${reply.status})`, true);
      return;
    }
    await this.load();
  }

  users() {
    const form = el("form", { class: "form-grid", attrs: { id: "user-form" } },
      field("Username", "username", { required: true }), field("First name", "first_name", { required: true }),
      field("Last name", "last_name", { required: true }), field("Email", "email", { type: "email" }),
      field("Extension", "extension", { required: true, inputmode: "numeric" }),
      el("button", { class: "button", text: "Add user", attrs: { type: "submit" } }));
    submitting(form, async (data) => {
      // One user is a one-row import: the same validation as the template's rows.
      const typed = ["username", "first_name", "last_name", "email", "extension"].map((c) => String(data.get(c) || ""));
      const cols = ["action", "username", "first_name", "last_name", "email", "extension", "endpoint_secret", "groups", "role", "salesforce_user"];
      const values = ["create", ...typed, "generate", "", "agent", ""];
      const csv = `${cols.join(",")}\n${values.map((v) => `"${v.replaceAll('"', '""')}"`).join(",")}\n`;
      const reply = await fetch("/api/admin/imports?filename=user.csv", {
        method: "POST", body: csv, credentials: "same-origin",
        headers: { "X-CTI-CSRF": csrf(), "Content-Type": "text/csv" },
      });
      const session = await reply.json();
      if (!reply.ok) throw Object.assign(new Error(session.message), { details: session.details });
      if (!session.ok) throw Object.assign(new Error("the user is not valid"), { details: { errors: session.errors.map((e) => ({ field: e.column, message: `${e.title}: ${e.reason}` })) } });
      await api("POST", `/api/admin/imports/${encodeURIComponent(session.id)}/apply`);
    }, () => this.load());
    const importing = el("button", { class: "button", text: "Import users from the template", attrs: { type: "button" }, on: { click: () => this.showTab("agents") } });
    const links = el("div", { class: "signup-links", attrs: { id: "wizard-signup-links" } });
    const panel = new SignupPanel(links);
    panel.load().catch((err) => status(err.message, true));
    return el("div", { class: "panel" }, el("h2", { text: "Users" }),
      el("p", { class: "note", text: "Add users one by one, or fill in the template and import it (errors are listed and highlighted; fix them in place and re-validate)." }),
      form, importing, links);
  }

  devices() {
    const options = (items) => items.map(([value, text]) => el("option", { text, attrs: { value } }));
    const models = this.state.models.map((m) => [m.key, `${m.vendor} ${m.name}`]);
    const form = el("form", { class: "form-grid", attrs: { id: "device-form" } },
      el("label", {}, "Model", el("select", { attrs: { name: "0.model" } }, ...options(models))),
      field("MAC address", "0.mac", { placeholder: "00:15:65:ab:cd:ef" }),
      field("User", "0.user", { required: true }),
      el("label", {}, "Location", el("select", { attrs: { name: "0.location" } },
        ...options(this.state.locations.map((l) => [l.name, l.name])))),
      el("span", { class: "field-error", attrs: { "data-error-for": "0.model" } }),
      el("span", { class: "field-error", attrs: { "data-error-for": "0.location" } }),
      el("button", { class: "button", text: "Add device", attrs: { type: "submit" } }));
    const secrets = el("p", { class: "note", attrs: { id: "device-secret", role: "status" } });
    submitting(form, async (data) => {
      const one = Object.fromEntries(["model", "mac", "user", "location"].map((k) => [k, data.get(`0.${k}`) || ""]));
      const reply = await api("POST", "/api/site/devices", { devices: [one] });
      const shown = reply.devices[0];
      this.lastSecret = `Provisioning secret for ${shown.mac} (shown once): ${shown.provisioning_secret}`;
    }, () => this.load());
    if (this.lastSecret) secrets.textContent = this.lastSecret;
    const rows = this.state.devices.map((d) => row(d.mac, d.model, d.user, d.location));
    return el("div", { class: "panel" }, el("h2", { text: "Devices" }),
      table(["MAC", "model", "user", "location"], rows, "device-rows"), form, secrets);
  }

  completion() {
    const panel = el("div", { class: "panel" }, el("h2", { text: "Completion" }));
    const done = el("ul", { attrs: { id: "done-list" } });
    const left = el("ul", { attrs: { id: "left-list" } });
    const result = el("p", { attrs: { id: "apply-result", role: "status" } });
    const apply = el("button", { class: "button primary", text: "Apply the configuration to Asterisk", attrs: { type: "button", id: "site-apply" } });
    apply.addEventListener("click", async () => {
      try {
        const reply = await api("POST", "/api/admin/config/apply", { reload: true });
        result.textContent = reply.reload_error ? `written, reload failed: ${reply.reload_error}`
          : `applied: ${reply.changed.join(", ") || "nothing changed"}`;
      } catch (err) {
        status(err.message, true);
      }
    });
    api("GET", "/api/site/summary").then((summary) => {
      done.replaceChildren(...Object.entries(summary.done).map(([k, v]) => el("li", { text: `${v} ${k}` })));
      left.replaceChildren(...(summary.left.length ? summary.left : ["nothing"]).map((t) => el("li", { text: t })));
    }).catch((err) => status(err.message, true));
    panel.append(el("h3", { text: "Set up" }), done, el("h3", { text: "Left to do" }), left, apply, result);
    return panel;
  }
}

function table(head, rows, id) {
  return el("table", { class: "table" },
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { text: h })))),
    el("tbody", { attrs: { id } }, ...rows));
}
