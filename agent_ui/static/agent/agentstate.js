// The agent's own state in the top bar: ready, paused (with a reason) or wrap-up (counting
// down). Changes go to the daemon, which pauses the agent's phones in their queues; what the
// PBX then reports comes back as `agent_state` messages and is what this shows. In wrap-up an
// "End wrap-up" button ends it early (POST /api/agent/wrapup/end, audited on the server).

import { explain, getJson, postJson } from "/static/common/http.js";
import { el, formatDuration, toast } from "/static/common/dom.js";

export class AgentStateView {
  constructor() {
    this.pill = document.getElementById("state-pill");
    this.select = document.getElementById("state-select");
    this.endButton = document.getElementById("end-wrapup");
    this.state = { state: "unknown", reason: "", until: null };
    this.reasons = [];
    this.skewMs = 0;
    this.timer = null;
    this.select.addEventListener("change", () => this.choose(this.select.value));
    this.endButton.addEventListener("click", () => this.endWrapup());
  }

  setServerTime(seconds) {
    this.skewMs = seconds * 1000 - Date.now();
  }

  async load() {
    try {
      const body = await getJson("/api/agent/state");
      this.reasons = body.reasons || [];
      this.show(body);
    } catch (err) {
      this.pill.textContent = "State unknown";
    }
  }

  fillOptions() {
    const options = [el("option", { text: "Ready", attrs: { value: "ready" } })];
    for (const reason of this.reasons) {
      options.push(el("option", { text: `Paused — ${reason}`, attrs: { value: `paused:${reason}` } }));
    }
    if (this.state.state === "paused" && !this.reasons.includes(this.state.reason)) {
      options.push(el("option", { text: `Paused — ${this.state.reason}`, attrs: { value: `paused:${this.state.reason}` } }));
    }
    if (this.state.state === "wrapup") options.push(el("option", { text: "Wrap-up", attrs: { value: "wrapup" } }));
    this.select.replaceChildren(...options);
  }

  show(state) {
    this.state = state;
    this.fillOptions();
    const kind = state.state || "unknown";
    this.pill.className = `pill state-${kind}`;
    this.select.value = kind === "paused" ? `paused:${state.reason}` : kind === "wrapup" ? "wrapup" : "ready";
    this.endButton.hidden = kind !== "wrapup";
    clearInterval(this.timer);
    this.render();
    if (kind === "wrapup" && state.until) this.timer = setInterval(() => this.render(), 1000);
  }

  render() {
    const { state, reason, until } = this.state;
    if (state === "ready") this.pill.textContent = "Ready";
    else if (state === "paused") this.pill.textContent = `Paused · ${reason}`;
    else if (state === "wrapup") {
      const left = until ? (until * 1000 - this.skewMs - Date.now()) / 1000 : 0;
      this.pill.textContent = left > 0 ? `Wrap-up · ${formatDuration(Math.ceil(left))}` : "Wrap-up";
    } else this.pill.textContent = "State unknown";
  }

  async endWrapup() {
    this.endButton.disabled = true;
    try {
      this.show(await postJson("/api/agent/wrapup/end", {}));
    } catch (err) {
      toast(`Wrap-up did not end: ${explain(err)}`, "error");
      await this.load();
    } finally {
      this.endButton.disabled = false;
    }
  }

  async choose(value) {
    const body = value === "ready" ? { state: "ready" } : { state: "paused", reason: value.slice("paused:".length) };
    if (value === "wrapup") return;
    try {
      this.show(await postJson("/api/agent/state", body));
    } catch (err) {
      toast(`Your state did not change: ${explain(err)}`, "error");
      this.show(this.state);
    }
  }
}
