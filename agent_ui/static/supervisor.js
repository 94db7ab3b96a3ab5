// The supervisor console: log in, pick one of your groups, edit its pop template, watch it
// live, change who is in it. Everything from the daemon goes in with textContent.

import { api, clear, el, setCsrf, when } from "./supervisor-api.js";
import { Editor } from "./supervisor-editor.js";
import { LiveView } from "./supervisor-live.js";

class App {
  constructor() {
    this.$ = (id) => document.getElementById(id);
    this.group = null;
    this.overview = null;
    this.user = null;
    this.editor = new Editor(this);
    this.live = new LiveView(this);
    this.tab = "editor";
    this.$("login").addEventListener("submit", (event) => this.login(event));
    this.$("logout").addEventListener("click", () => this.logout());
    this.$("group").addEventListener("change", () => this.select(this.$("group").value));
    for (const button of document.querySelectorAll("#tabs button")) {
      button.addEventListener("click", () => this.show(button.dataset.tab));
    }
    this.$("group-form").addEventListener("submit", (event) => this.saveGroup(event));
    this.$("new-group").addEventListener("submit", (event) => this.createGroup(event));
    this.$("delete-group").addEventListener("click", () => this.deleteGroup());
  }

  async start() {
    try {
      const me = await api("GET", "/api/me");
      await this.enter(me);
    } catch (err) {
      this.$("login").hidden = false;
    }
  }

  async login(event) {
    event.preventDefault();
    const form = new FormData(this.$("login"));
    try {
      const me = await api("POST", "/login", { body: { username: form.get("username"), password: form.get("password") } });
      this.$("login").hidden = true;
      await this.enter(me);
    } catch (err) {
      this.$("login-error").textContent = err.message;
    }
  }

  async logout() {
    await api("POST", "/logout").catch(() => null);
    window.location.reload();
  }

  async enter(me) {
    setCsrf(me.csrf);
    this.user = me.user;
    this.$("who").textContent = `${me.user.display_name} (${me.user.role})`;
    this.$("logout").hidden = false;
    if (!["supervisor", "admin"].includes(me.user.role)) {
      this.status("The supervisor console is for supervisors and admins.", true);
      return;
    }
    await this.reload();
    this.$("tabs").hidden = false;
    this.$("group-pick").hidden = false;
    this.$("link").hidden = false;
    this.live.start(me.user.role === "supervisor"); // admins cannot open /ws: they poll
    this.show(this.tab);
  }

  async reload(selected) {
    this.overview = await api("GET", "/api/supervisor");
    const select = this.$("group");
    clear(select);
    for (const group of this.overview.groups) select.append(el("option", { text: group.name, attrs: { value: group.name } }));
    const names = this.overview.groups.map((g) => g.name);
    const pick = names.includes(selected) ? selected : names.includes(this.group) ? this.group : names[0];
    if (!pick) {
      this.group = null;
      this.status("You supervise no group yet: create one on the Group tab.");
      this.show("group-tab");
      this.renderGroup();
      return;
    }
    select.value = pick;
    await this.select(pick);
  }

  async select(name) {
    this.group = name;
    this.$("failure-banner").hidden = true;
    this.renderGroup();
    this.live.render();
    this.live.poll();
    try {
      await this.editor.load(name);
    } catch (err) {
      this.status(err.message, true);
    }
    if (this.tab === "history") this.history();
  }

  show(tab) {
    this.tab = tab;
    for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== tab;
    for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.tab === tab);
    if (tab === "history") this.history();
  }

  status(text, bad = false) {
    const line = this.$("status");
    line.textContent = text;
    line.className = bad ? "error" : "";
  }

  setLink(up) {
    const link = this.$("link");
    link.textContent = up ? "live: connected" : "live: offline";
    link.className = `link ${up ? "up" : "down"}`;
  }

  templateFailed(data) {
    if (data.group !== this.group) return;
    const banner = this.$("failure-banner");
    banner.textContent = `A pop of ${data.group} (call ${data.call_id}) used the default template: ${data.error}`;
    banner.hidden = false;
  }

  // ------------------------------------------------------------------ the group tab
  renderGroup() {
    const group = (this.overview.groups || []).find((g) => g.name === this.group);
    const form = this.$("group-form");
    form.hidden = !group;
    const agents = this.overview.agents || [];
    const options = (select, pick, chosen) => {
      clear(select);
      for (const agent of agents.filter(pick)) {
        const option = el("option", { text: `${agent.name} (${agent.username})`, attrs: { value: agent.username } });
        option.selected = chosen.includes(agent.username);
        select.append(option);
      }
    };
    if (group) {
      form.elements.name.value = group.name;
      options(form.elements.members, (a) => a.role !== "admin", group.members);
      options(form.elements.supervisors, (a) => a.role === "supervisor", group.supervisors);
      form.elements.queues.value = group.queues.join("\n");
      form.elements.dids.value = group.dids.join("\n");
    }
    const dids = this.$("did-map");
    clear(dids);
    for (const row of this.overview.did_map || []) dids.append(el("tr", {}, [el("td", { text: row.did }), el("td", { text: row.group })]));
    const trunks = this.$("trunk-map");
    clear(trunks);
    for (const row of this.overview.trunk_map || []) {
      trunks.append(el("tr", {}, [el("td", { text: row.server }), el("td", { text: row.trunk }), el("td", { text: row.group })]));
    }
    if (!(this.overview.trunk_map || []).length) trunks.append(el("tr", {}, [el("td", { text: "No trunk has a default group.", attrs: { colspan: 3 } })]));
  }

  async saveGroup(event) {
    event.preventDefault();
    const form = this.$("group-form");
    const picked = (select) => [...select.selectedOptions].map((o) => o.value);
    const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);
    const body = {
      name: form.elements.name.value.trim(),
      members: picked(form.elements.members),
      supervisors: picked(form.elements.supervisors),
      queues: lines(form.elements.queues.value),
      dids: lines(form.elements.dids.value),
    };
    try {
      const result = await api("PUT", "/api/supervisor/group", { query: { group: this.group }, body });
      this.status(`Saved group ${result.group}.`);
      await this.reload(result.group);
    } catch (err) {
      this.status(err.message, true);
    }
  }

  async createGroup(event) {
    event.preventDefault();
    const form = this.$("new-group");
    try {
      const result = await api("POST", "/api/supervisor/groups", { body: { name: form.elements.name.value.trim() } });
      form.reset();
      this.status(`Created group ${result.group}; add its members and queues.`);
      await this.reload(result.group);
      this.show("group-tab");
    } catch (err) {
      this.status(err.message, true);
    }
  }

  async deleteGroup() {
    if (!this.group || !window.confirm(`Delete group ${this.group}? Its template versions go too.`)) return;
    try {
      await api("DELETE", "/api/supervisor/group", { query: { group: this.group } });
      this.status(`Deleted group ${this.group}.`);
      await this.reload();
    } catch (err) {
      this.status(err.message, true);
    }
  }

  // ------------------------------------------------------------------ audit
  async history() {
    if (!this.group) return;
    const body = this.$("events");
    const result = await api("GET", "/api/supervisor/history", { query: { group: this.group } });
    clear(body);
    for (const event of result.events) {
      body.append(el("tr", {}, [
        el("td", { text: when(event.at) }),
        el("td", { text: event.actor || "daemon" }),
        el("td", { text: event.kind }),
        el("td", { text: JSON.stringify(event.details) }),
      ]));
    }
  }
}

new App().start();
