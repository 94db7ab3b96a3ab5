// The Group tab: the selected group's members, owners, queues, DIDs and which calls have
// wrap-up; a new group; deleting one; and where calls come from (the DID and trunk maps the
// admin console keeps).

import { clear, el } from "/static/common/dom.js";
import { request as api } from "/static/common/http.js";

const $ = (id) => document.getElementById(id);
const picked = (select) => [...select.selectedOptions].map((o) => o.value);
const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);

export class GroupTab {
  constructor(app) {
    this.app = app;
    $("group-form").addEventListener("submit", (event) => this.save(event));
    $("new-group").addEventListener("submit", (event) => this.create(event));
    $("delete-group").addEventListener("click", () => this.remove());
  }

  render() {
    const overview = this.app.overview;
    const group = (overview.groups || []).find((g) => g.name === this.app.group);
    const form = $("group-form");
    form.hidden = !group;
    const agents = overview.agents || [];
    const options = (select, pick, chosen) => {
      select.replaceChildren(...agents.filter(pick).map((agent) => {
        const option = el("option", { text: `${agent.name} (${agent.username})`, attrs: { value: agent.username } });
        option.selected = chosen.includes(agent.username);
        return option;
      }));
    };
    if (group) {
      form.elements.name.value = group.name;
      options(form.elements.members, (a) => a.role !== "admin", group.members);
      options(form.elements.supervisors, (a) => a.role === "supervisor", group.supervisors);
      form.elements.queues.value = group.queues.join("\n");
      form.elements.dids.value = group.dids.join("\n");
      form.elements.wrapup_applies_to.value = group.wrapup_applies_to || "queue";
    }
    const dids = $("did-map");
    clear(dids);
    for (const row of overview.did_map || []) dids.append(el("tr", {}, el("td", { text: row.did }), el("td", { text: row.group })));
    const trunks = $("trunk-map");
    clear(trunks);
    for (const row of overview.trunk_map || []) {
      trunks.append(el("tr", {}, el("td", { text: row.server }), el("td", { text: row.trunk }), el("td", { text: row.group })));
    }
    if (!(overview.trunk_map || []).length) {
      trunks.append(el("tr", {}, el("td", { class: "note", text: "No trunk has a default group.", attrs: { colspan: 3 } })));
    }
  }

  async save(event) {
    event.preventDefault();
    const form = $("group-form");
    const body = {
      name: form.elements.name.value.trim(),
      members: picked(form.elements.members),
      supervisors: picked(form.elements.supervisors),
      queues: lines(form.elements.queues.value),
      dids: lines(form.elements.dids.value),
      wrapup_applies_to: form.elements.wrapup_applies_to.value,
    };
    try {
      const result = await api("PUT", "/api/supervisor/group", { query: { group: this.app.group }, body });
      this.app.status(`Saved group ${result.group}.`);
      await this.app.reload(result.group);
    } catch (err) {
      this.app.status(err.message, true);
    }
  }

  async create(event) {
    event.preventDefault();
    const form = $("new-group");
    try {
      const result = await api("POST", "/api/supervisor/groups", { body: { name: form.elements.name.value.trim() } });
      form.reset();
      this.app.status(`Created group ${result.group}; add its members and queues.`);
      await this.app.reload(result.group);
      this.app.showTab("group-tab");
    } catch (err) {
      this.app.status(err.message, true);
    }
  }

  async remove() {
    const group = this.app.group;
    if (!group || !window.confirm(`Delete group ${group}? Its template versions go too.`)) return;
    try {
      await api("DELETE", "/api/supervisor/group", { query: { group } });
      this.app.status(`Deleted group ${group}.`);
      await this.app.reload();
    } catch (err) {
      this.app.status(err.message, true);
    }
  }
}
