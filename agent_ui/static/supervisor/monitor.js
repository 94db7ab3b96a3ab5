// Listen / whisper / barge from the live view (cti.monitoring through /api/monitor): the
// buttons on each answered call of the group, and the panel of the supervisor's own session
// (its mode, switch, leave). Asterisk rings the supervisor's phone; the session lasts until
// they leave, hang up, or the agent's call ends (the panel follows GET /api/monitor).

import { el, toast } from "/static/common/dom.js";
import { explain, request as api } from "/static/common/http.js";

const MODES = [
  ["listen", "Listen", "Hear both parties; nobody hears you"],
  ["whisper", "Whisper", "Only the agent hears you"],
  ["barge", "Barge", "Both parties hear you"],
];
const FOLLOW_MS = 2000;
const REASONS = {
  not_answered: "Your phone did not answer: you did not join the call.",
  hung_up: "You hung up: you left the call.",
  call_ended: "The agent's call ended; your phone was hung up.",
};

export class MonitorPanel {
  constructor(panel) {
    this.panel = panel;
    this.session = null;
    this.timer = null;
    this.busy = false;
  }

  /** The Listen / Whisper / Barge buttons of one live call (none while a session runs on it). */
  buttons(call) {
    if (call.state !== "answered" || !call.agent) return el("td", {});
    if (this.session && this.session.call_id === call.call_id) {
      return el("td", {}, el("span", { class: "tag", text: `you: ${this.session.mode}` }));
    }
    return el("td", { class: "monitor-buttons" }, ...MODES.map(([mode, label, title]) => el("button", {
      class: "button small", text: label,
      attrs: { type: "button", title, "data-monitor": mode, "data-call": call.call_id },
      on: { click: () => this.start(call, mode) },
    })));
  }

  async start(call, mode) {
    if (this.busy) return;
    this.busy = true;
    try {
      if (this.session) await this.leave(false);
      this.session = await api("POST", "/api/monitor", { body: { call_id: call.call_id, mode } });
      this.session.label = `${call.caller_name || call.caller_number} with ${call.agent}`;
      toast("Your phone rings: answer it to join the call.", "info");
      this.render();
      this.follow();
    } catch (err) {
      toast(explain(err), "error");
    } finally {
      this.busy = false;
    }
  }

  async switchTo(mode) {
    try {
      const changed = await api("POST", `/api/monitor/${encodeURIComponent(this.session.id)}/mode`, { body: { mode } });
      this.session = { ...this.session, mode: changed.mode };
      this.render();
    } catch (err) {
      toast(explain(err), "error"); // e.g. 409: your phone has not answered yet
    }
  }

  async leave(announce = true) {
    const session = this.session;
    if (!session) return;
    try {
      await api("DELETE", `/api/monitor/${encodeURIComponent(session.id)}`);
    } catch (err) {
      if (err.status !== 404) toast(explain(err), "error"); // 404: it had ended already
    }
    this.ended(announce ? "You left the call." : null);
  }

  ended(message) {
    this.session = null;
    clearTimeout(this.timer);
    this.render();
    if (message) toast(message, "info");
  }

  /** The daemon says the session ended on its own (a monitoring frame with its reason). */
  endedBy(data) {
    if (!this.session || this.session.id !== data.session) return;
    this.ended(REASONS[data.reason] || "The monitored call ended.");
  }

  /** Follow the session: it ends when the agent's call or the supervisor's phone hangs up. */
  follow() {
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      if (!this.session) return;
      try {
        const mine = await api("GET", "/api/monitor");
        if (!mine.sessions.some((s) => s.id === this.session.id)) {
          this.ended("The monitored call ended.");
          return;
        }
      } catch (err) {
        /* try again on the next round */
      }
      this.follow();
    }, FOLLOW_MS);
  }

  render() {
    const session = this.session;
    this.panel.hidden = !session;
    if (!session) {
      this.panel.replaceChildren();
      return;
    }
    const modes = MODES.map(([mode, label, title]) => {
      const on = session.mode === mode;
      return el("button", {
        class: `button small${on ? " primary" : ""}`, text: label,
        attrs: { type: "button", title, "aria-pressed": on ? "true" : "false", "data-switch": mode },
        on: { click: () => (on ? null : this.switchTo(mode)) },
      });
    });
    this.panel.replaceChildren(
      el("strong", { text: "Monitoring " }),
      el("span", { class: "subject", text: session.label || session.call_id }),
      el("span", { class: "monitor-mode", text: ` · ${session.mode}`, attrs: { "data-mode": session.mode } }),
      el("span", { class: "monitor-switch" }, ...modes),
      el("button", { class: "button danger small", text: "Leave", attrs: { type: "button", "data-leave": "" }, on: { click: () => this.leave() } }),
    );
  }
}
