// The site settings panel: the default region numbers typed without a country code are read
// in (issue 13). Shows where the region in force comes from (chosen here, the configuration
// file, or the built-in default, which the daemon warns about) and stores a new one; the
// server checks the admin and the code, and audits the change.

import { el, toast } from "/static/common/dom.js";
import { request } from "/static/common/http.js";

const PATH = "/api/admin/site-settings";
const SOURCES = {
  stored: "chosen here",
  config: "from the configuration file",
  "built-in": "the built-in default: nobody chose it yet",
};

export class SiteSettingsPanel {
  constructor(root) {
    this.root = root;
    this.select = el("select", { attrs: { id: "site-region", name: "default_region", required: true } });
    this.source = el("p", { class: "muted", attrs: { id: "site-region-source" } });
    this.error = el("p", { class: "field-error", attrs: { id: "site-region-error", role: "alert" }, hidden: true });
    const form = el("form", { class: "import-signup", attrs: { id: "site-region-form" }, on: { submit: (event) => this.save(event) } },
      el("label", { attrs: { for: "site-region" } }, "Default region"),
      this.select,
      el("button", { class: "button primary", text: "Save region", attrs: { type: "submit" } }),
      this.error,
    );
    root.replaceChildren(
      el("h2", { text: "Site settings" }),
      el("p", { text: "Numbers typed without a country code (contacts, click-to-dial, site numbers) are read as numbers of this country." }),
      form,
      this.source,
    );
  }

  async load() {
    this.show(await request("GET", PATH));
  }

  show(data) {
    if (this.select.options.length !== data.regions.length) {
      this.select.replaceChildren(...data.regions.map((r) =>
        el("option", { text: `${r.code} (+${r.calling_code})`, attrs: { value: r.code } })));
    }
    this.select.value = data.default_region;
    const by = data.updated_by ? ` by ${data.updated_by}` : "";
    this.source.textContent = `In force: ${data.default_region}, ${SOURCES[data.source] || data.source}${by}.`;
    this.root.dataset.source = data.source;
  }

  async save(event) {
    event.preventDefault();
    this.error.hidden = true;
    this.select.removeAttribute("aria-invalid");
    try {
      this.show(await request("PUT", PATH, { body: { default_region: this.select.value } }));
      toast(`Default region set to ${this.select.value}`, "ok");
    } catch (err) {
      this.select.setAttribute("aria-invalid", "true");
      this.error.textContent = err.message;
      this.error.hidden = false;
    }
  }
}
