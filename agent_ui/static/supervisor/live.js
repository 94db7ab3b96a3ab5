// The live view of a group: group_state messages over /ws (supervisors), or polling the
// HTTP API when the socket is down or not allowed (admins). Durations tick in the page.

import { clear, el, formatDuration as duration } from "/static/common/dom.js";
import { request as api } from "/static/common/http.js";
import { MonitorPanel } from "./monitor.js";

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const POLL_MS = 3000;
const STATE_NAMES = {
  ready: "ready", paused: "paused", ringing: "ringing", on_call: "on a call", wrapup: "wrap-up",
};

export class LiveView {
  constructor(app) {
    this.app = app;
    this.states = new Map(); // group -> {data, offset}
    this.ws = null;
    this.attempt = 0;
    this.pollTimer = null;
    this.reconnectTimer = null;
    this.callsShown = ""; // the calls the table was built from; durations tick in place
    this.monitor = new MonitorPanel(document.getElementById("monitor-panel"));
    setInterval(() => this.render(), 1000);
  }

  start(useSocket) {
    if (useSocket) this.connect();
    this.poll();
  }

  connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${window.location.host}/ws`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      ws.send(JSON.stringify({ type: "resume", data: { last_seq: null } }));
    });
    ws.addEventListener("message", (event) => this.onMessage(event.data));
    ws.addEventListener("close", () => {
      this.ws = null;
      this.app.setLink(false);
      const wait = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      this.attempt += 1;
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = setTimeout(() => this.connect(), wait);
    });
  }

  onMessage(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch (err) {
      return;
    }
    const { type, data } = message;
    if (type === "hello") {
      this.attempt = 0;
      this.app.setLink(true);
    } else if (type === "group_state") {
      this.accept(data);
    } else if (type === "template_failed") {
      this.app.templateFailed(data);
    } else if (type === "monitoring" && data.event === "ended") {
      this.monitor.endedBy(data); // the session ended on its own (cti.monitoring)
    }
  }

  accept(data) {
    this.states.set(data.group, { data, offset: data.server_time - Date.now() / 1000 });
    if (data.group === this.app.group) this.render();
  }

  async poll() {
    clearTimeout(this.pollTimer);
    const socketUp = this.ws !== null && this.ws.readyState === WebSocket.OPEN;
    if (this.app.group && (!socketUp || !this.states.has(this.app.group))) {
      try {
        this.accept(await api("GET", "/api/supervisor/live", { query: { group: this.app.group } }));
      } catch (err) {
        /* the next poll tries again; the status line shows API errors elsewhere */
      }
    }
    this.pollTimer = setTimeout(() => this.poll(), POLL_MS);
  }

  render() {
    const entry = this.states.get(this.app.group);
    const doc = document;
    doc.getElementById("live-group").textContent = this.app.group || "";
    if (!entry) return;
    const { data, offset } = entry;
    const now = Date.now() / 1000 + offset;
    doc.getElementById("pops-today").textContent = String(data.pops_today);

    const agents = doc.getElementById("agents");
    clear(agents);
    for (const agent of data.agents) {
      let label = STATE_NAMES[agent.state] || agent.state;
      if (agent.reason && agent.state === "paused") label += ` (${agent.reason})`;
      const span = agent.until ? duration(agent.until - now) + " left" : duration(now - agent.since);
      agents.append(el("tr", { attrs: { "data-agent": agent.username } },
        el("td", { text: agent.name }),
        el("td", {}, el("span", { class: `state state-${agent.state}`, text: label })),
        el("td", { text: agent.since ? span : "" }),
        el("td", { text: agent.online ? "open" : "closed", class: agent.online ? "" : "offline" }),
        el("td", { text: (agent.phones || []).join(", ") }),
      ));
    }

    this.renderCalls(data.calls, now);

    const waiting = doc.getElementById("waiting");
    clear(waiting);
    for (const caller of data.waiting) {
      waiting.append(el("tr", {},
        el("td", { text: caller.caller_name ? `${caller.caller_name} ${caller.caller_number}` : caller.caller_number }),
        el("td", { text: caller.queue }),
        el("td", { text: duration(now - caller.since) }),
      ));
    }

    const failures = doc.getElementById("failures");
    clear(failures);
    for (const failure of data.failures) {
      const at = new Date(failure.at * 1000).toLocaleTimeString();
      failures.append(el("li", { text: `${at} · call ${failure.call_id}: ${failure.error}` }));
    }
    if (!data.failures.length) failures.append(el("li", { class: "note", text: "None." }));
  }

  /** Rebuild the calls table when its calls change (so its buttons stay under the pointer);
   * otherwise only the durations move. */
  renderCalls(list, now) {
    const calls = document.getElementById("calls");
    const shown = JSON.stringify([list.map((c) => [c.call_id, c.state, c.agent, c.ringing]), this.monitor.session]);
    if (shown !== this.callsShown) {
      this.callsShown = shown;
      clear(calls);
      for (const call of list) {
        const agent = call.agent || (call.ringing || []).join(", ");
        calls.append(el("tr", { attrs: { "data-call": call.call_id } },
          el("td", { text: call.caller_name ? `${call.caller_name} ${call.caller_number}` : call.caller_number }),
          el("td", { text: agent }),
          el("td", { text: call.state }),
          el("td", { text: [call.queue, call.did].filter(Boolean).join(" / ") }),
          el("td", { class: "call-duration" }),
          this.monitor.buttons(call),
        ));
      }
    }
    list.forEach((call, i) => {
      const cell = calls.children[i]?.querySelector(".call-duration");
      if (cell) cell.textContent = duration(now - (call.answered_at || call.started_at));
    });
  }
}
