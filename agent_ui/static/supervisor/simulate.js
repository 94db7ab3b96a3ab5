// "Simulate a call" (live view): ring the selected group on one of its DIDs, from a CRM contact
// found by search or from an unknown number. The daemon places it (POST
// /api/supervisor/simulate-call) after checking the group is yours; its pops and its row in the
// live view are those of a real call.

import { el, status } from "/static/common/dom.js";
import { request as api } from "/static/common/http.js";

const $ = (id) => document.getElementById(id);

export class Simulator {
  constructor(app) {
    this.app = app;
    this.form = $("simulate-form");
    this.results = $("simulate-contact");
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.place(); });
    $("simulate-search").addEventListener("click", () => this.search());
    for (const radio of this.form.elements.caller) radio.addEventListener("change", () => this.toggle());
    this.toggle();
  }

  /** Show the selected group's DIDs. */
  render() {
    const group = this.app.overview?.groups.find((g) => g.name === this.app.group);
    const dids = group?.dids || [];
    $("simulate-did").replaceChildren(...dids.map((did) => el("option", { text: did, attrs: { value: did } })));
    $("simulate-place").disabled = !dids.length;
    $("simulate-note").textContent = dids.length ? "" : "This group has no DID: give it one on the Group tab.";
  }

  toggle() {
    const contact = this.form.elements.caller.value === "contact";
    for (const id of ["simulate-q", "simulate-search", "simulate-contact"]) $(id).disabled = !contact;
  }

  async search() {
    const q = $("simulate-q").value.trim();
    if (!q) return;
    try {
      const found = await api("GET", "/api/crm/search", { query: { q } });
      const options = [];
      for (const hit of found.hits) {
        for (const phone of hit.phones.filter((p) => p.valid)) {
          options.push(el("option", { text: `${hit.title} (${phone.display || phone.number})`,
            attrs: { value: phone.number, "data-name": hit.title } }));
        }
      }
      this.results.replaceChildren(...options);
      if (!options.length) status(`No contact with a phone number matches "${q}".`, true);
    } catch (err) {
      status(err.message, true);
    }
  }

  async place() {
    const contact = this.form.elements.caller.value === "contact";
    const picked = this.results.selectedOptions[0];
    if (contact && !picked) return status("Search the CRM and pick a contact first.", true);
    const caller = contact ? { number: picked.value, name: picked.dataset.name.slice(0, 40) } : { unknown: true };
    const button = $("simulate-place");
    button.disabled = true;
    try {
      const started = await api("POST", "/api/supervisor/simulate-call",
        { query: { group: this.app.group }, body: { did: $("simulate-did").value || null, caller } });
      status(`Calling ${started.target} from ${started.caller_name || started.caller}: watch the calls below.`);
    } catch (err) {
      status(err.message, true);
    } finally {
      button.disabled = false;
    }
  }
}
