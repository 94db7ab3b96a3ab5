// The supervisor console: pick one of your groups, edit its pop template, watch it live, change
// who is in it, read its audit log and the reports of your groups. Sign-in and navigation are the shared shell's. Everything
// from the daemon goes in with textContent.

import { clear, el, formatWhen, status, tabs } from "/static/common/dom.js";
import { request as api } from "/static/common/http.js";
import { ReportView } from "/static/common/report_view.js";
import { Shell } from "/static/common/shell.js";
import { Editor } from "./editor.js";
import { GroupTab } from "./group.js";
import { LiveView } from "./live.js";
import { RecordingSettings, RecordingsList } from "./recording.js";
import { Simulator } from "./simulate.js";

const $ = (id) => document.getElementById(id);

class App {
  constructor() {
    this.group = null;
    this.overview = null;
    this.tab = "editor";
    this.shell = new Shell({
      app: "console",
      onSignedIn: (body) => this.enter(body.user),
      onSignedOut: () => window.location.reload(), // drops the live socket and timers
    });
    this.editor = new Editor(this);
    this.live = new LiveView(this);
    this.groups = new GroupTab(this);
    this.recordingSettings = new RecordingSettings(this);
    this.recordings = new RecordingsList(this);
    this.simulator = new Simulator(this);
    this.reports = new ReportView($("supervisor-reports"), "sup-report"); // their groups only
    this.showTab = tabs($("tabs"), (name) => this.shown(name));
    $("group").addEventListener("change", () => this.select($("group").value));
  }

  start() {
    this.shell.start();
  }

  async enter(user) {
    if (!["supervisor", "admin"].includes(user.role)) {
      status("The supervisor console is for supervisors and admins.", true);
      return;
    }
    try {
      await this.reload();
    } catch (err) {
      status(err.message, true);
      return;
    }
    $("tabs").hidden = false;
    $("group-pick").hidden = false;
    $("link").hidden = false;
    const socket = user.role === "supervisor"; // admins cannot open /ws: they poll
    this.live.start(socket);
    if (!socket) $("link").textContent = "live: polled";
    this.showTab(this.tab);
  }

  async reload(selected) {
    this.overview = await api("GET", "/api/supervisor");
    const select = $("group");
    const names = this.overview.groups.map((g) => g.name);
    select.replaceChildren(...names.map((name) => el("option", { text: name, attrs: { value: name } })));
    const pick = names.includes(selected) ? selected : names.includes(this.group) ? this.group : names[0];
    if (!pick) {
      this.group = null;
      status("You supervise no group yet: create one on the Group tab.");
      this.showTab("group-tab");
      this.groups.render();
      return;
    }
    select.value = pick;
    await this.select(pick);
  }

  async select(name) {
    this.group = name;
    $("failure-banner").hidden = true;
    $("wallboard-link").href = `/wallboard?group=${encodeURIComponent(name)}`;
    this.groups.render();
    this.recordingSettings.load();
    this.simulator.render();
    this.live.render();
    this.live.poll();
    try {
      await this.editor.load(name);
    } catch (err) {
      status(err.message, true);
    }
    if (this.tab === "history") this.history();
  }

  shown(tab) {
    this.tab = tab;
    if (tab === "history") this.history();
    if (tab === "reports") this.reports.load().catch((err) => status(err.message, true));
  }

  status(text, bad = false) {
    status(text, bad);
  }

  setLink(up) {
    const link = $("link");
    link.textContent = up ? "live: connected" : "live: offline";
    link.className = `conn ${up ? "conn-up" : "conn-down"}`;
  }

  templateFailed(data) {
    if (data.group !== this.group) return;
    const banner = $("failure-banner");
    banner.textContent = `A pop of ${data.group} (call ${data.call_id}) used the default template: ${data.error}`;
    banner.hidden = false;
  }

  async history() {
    if (!this.group) return;
    this.recordings.load();
    const result = await api("GET", "/api/supervisor/history", { query: { group: this.group } });
    const body = $("events");
    clear(body);
    for (const event of result.events) {
      body.append(el("tr", {},
        el("td", { text: formatWhen(event.at) }),
        el("td", { text: event.actor || "daemon" }),
        el("td", { text: event.kind }),
        el("td", { text: JSON.stringify(event.details) }),
      ));
    }
  }
}

new App().start();
