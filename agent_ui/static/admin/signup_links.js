// Signup links: issue an agent (or every agent of an applied import) a one-time link and its QR
// code, valid for a set time; the link is shown once, here. The list below shows each link's
// state (never its token) and revokes those still live. One panel class, mounted in the Agents
// tab and in the wizard's users step; every value goes in with textContent or an attribute.

import { el, formatWhen, row, status } from "/static/common/dom.js";
import { request } from "/static/common/http.js";
import { errorSlot, markInvalid, clearInvalid } from "/static/common/forms.js";

const VALIDITY = [["3600", "1 hour"], ["86400", "1 day"], ["604800", "7 days"], ["2592000", "30 days"]];
const LIVE = new Set(["issued", "opened", "password_set"]);
const STATES = { issued: "not opened", opened: "opened", password_set: "password set", used: "used", expired: "expired", revoked: "revoked" };

/** The validity picker (seconds), shared by the panel's form and the import's shortcut. */
export function validityPicker(name) {
  return el("select", { attrs: { name, "aria-label": "Valid for" } },
    ...VALIDITY.map(([value, text]) => el("option", { text, attrs: { value, selected: value === "86400" } })));
}

export class SignupPanel {
  constructor(root) {
    this.root = root;
    this.form = el("form", { class: "form-grid", attrs: { "aria-label": "Issue signup links" } },
      el("label", {}, "Users (usernames, comma separated)",
        el("input", { attrs: { name: "users", required: true, autocomplete: "off" } }), errorSlot("users")),
      el("label", {}, "Valid for", validityPicker("valid_for_s"), errorSlot("valid_for_s")),
      el("div", { class: "form-actions" }, el("button", { class: "button primary", text: "Issue signup links", attrs: { type: "submit" } })));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.issueFor(this.form.elements.users.value.split(/[\s,;]+/).filter(Boolean));
    });
    this.issued = el("div", { class: "issued-links", attrs: { "aria-live": "polite" } });
    this.rows = el("tbody", { class: "signup-rows" });
    root.replaceChildren(
      el("h2", { text: "Signup links" }),
      el("p", { class: "note", text: "A link lets an agent choose a password and set up the agent desktop or a mobile softphone, once. It is shown only here, now: send it (or show its QR code) to the agent." }),
      this.form, this.issued,
      el("table", { class: "table" },
        el("thead", {}, el("tr", {}, ...["user", "state", "expires", "issued by", ""].map((h) => el("th", { text: h })))),
        this.rows));
  }

  async load() {
    const data = await request("GET", "/api/site/signup-links");
    this.rows.replaceChildren(...data.links.map((link) => this.linkRow(link)));
  }

  linkRow(link) {
    const revoke = LIVE.has(link.state) ? el("button", {
      class: "button small danger", text: "Revoke",
      attrs: { type: "button", "aria-label": `Revoke the link of ${link.user}` },
      on: { click: () => this.revoke(link) },
    }) : "";
    const tr = row(link.user, STATES[link.state] || link.state, formatWhen(link.expires_at), link.created_by, el("td", {}, revoke));
    tr.dataset.user = link.user;
    tr.dataset.state = link.state;
    return tr;
  }

  async revoke(link) {
    try {
      await request("DELETE", `/api/site/signup-links/${encodeURIComponent(link.id)}`);
      status(`The link of ${link.user} is revoked.`);
      await this.load();
    } catch (err) {
      status(err.message, true);
    }
  }

  /** Issue links for `users`; show each (URL and QR code) once. */
  async issueFor(users) {
    await this.send({ users, valid_for_s: Number(this.form.elements.valid_for_s.value) });
  }

  /** Issue links for every agent an applied import created or updated. */
  async issueForImport(importId, validForS) {
    await this.send({ import: importId, valid_for_s: Number(validForS) });
  }

  async send(body) {
    clearInvalid(this.form);
    let data;
    try {
      data = await request("POST", "/api/site/signup-links", { body });
    } catch (err) {
      markInvalid(this.form, err);
      status(err.details?.users ? `${err.message}: ${err.details.users.join(", ")}` : err.message, true);
      return;
    }
    this.form.reset();
    status(`${data.links.length} signup link(s) issued; they are shown once, below.`);
    this.issued.replaceChildren(...data.links.map((link) => el("figure", { class: "issued-link", attrs: { "data-user": link.user } },
      el("img", { class: "qr", attrs: { src: link.qr, alt: `QR code of the signup link of ${link.user}` } }),
      el("figcaption", {}, el("strong", { text: link.user }), " ",
        el("span", { class: "note", text: `until ${formatWhen(link.expires_at)}` }),
        el("input", { class: "key-value", attrs: { readonly: true, value: link.url, "aria-label": `Signup link of ${link.user}` } })))));
    await this.load();
  }
}
