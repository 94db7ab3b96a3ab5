// The group's recording settings (never / always / on demand, tell agents when a supervisor
// joins, retention, the announcement callers hear first) on the Group tab, and the group's latest recordings, playable with seeking,
// on the Audit tab. GET/PUT /api/supervisor/recording-policy, GET /api/recordings?group=.

import { clear, el } from "/static/common/dom.js";
import { explain, request as api } from "/static/common/http.js";
import { recordingPlayer } from "/static/common/player.js";

const $ = (id) => document.getElementById(id);

export class RecordingSettings {
  constructor(app) {
    this.app = app;
    $("recording-form").addEventListener("submit", (event) => this.save(event));
  }

  async load() {
    const form = $("recording-form");
    form.hidden = !this.app.group;
    if (!this.app.group) return;
    try {
      const policy = await api("GET", "/api/supervisor/recording-policy", { query: { group: this.app.group } });
      form.elements.policy.value = policy.policy;
      form.elements.tell_agent.checked = policy.tell_agent;
      form.elements.retention_days.value = String(policy.retention_days);
      form.elements.announcement.value = policy.announcement || "";
    } catch (err) {
      this.app.status(explain(err), true);
    }
  }

  async save(event) {
    event.preventDefault();
    const form = $("recording-form");
    const body = {
      policy: form.elements.policy.value,
      tell_agent: form.elements.tell_agent.checked,
      retention_days: Number.parseInt(form.elements.retention_days.value, 10),
      announcement: form.elements.announcement.value.trim(), // kept: saving must not clear it
    };
    try {
      const saved = await api("PUT", "/api/supervisor/recording-policy", { query: { group: this.app.group }, body });
      const said = saved.announcement ? `, callers hear ${saved.announcement} first` : "";
      this.app.status(`Recording of ${saved.group}: ${saved.policy}, kept ${saved.retention_days} days${said}.`);
    } catch (err) {
      this.app.status(explain(err), true);
    }
  }
}

export class RecordingsList {
  constructor(app) {
    this.app = app;
  }

  async load() {
    const list = $("recordings");
    if (!this.app.group) return;
    let found;
    try {
      found = await api("GET", "/api/recordings", { query: { group: this.app.group } });
    } catch (err) {
      list.replaceChildren(el("li", { class: "form-error", text: explain(err) }));
      return;
    }
    clear(list);
    for (const rec of found.recordings) {
      const when = new Date(rec.started_at).toLocaleString();
      list.append(el("li", { attrs: { "data-recording": rec.id } },
        recordingPlayer(rec, { label: `${when} · ${rec.agent}` })));
    }
    if (!found.recordings.length) list.append(el("li", { class: "note", text: "No recordings yet." }));
  }
}
