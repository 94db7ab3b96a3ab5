// The wallboard page (/wallboard?group=...): one group's board, full screen on a wall. A
// supervisor's board comes in `wallboard` frames over /ws; admins (who open no socket) and a
// page whose socket is down poll /api/supervisor/wallboard. The group's owners set its alert
// thresholds here; the daemon checks who may and says which field is wrong.

import { clear, status } from "/static/common/dom.js";
import { explain, request as api } from "/static/common/http.js";
import { Shell } from "/static/common/shell.js";
import { clearInvalid, markInvalid } from "/static/common/forms.js";
import { agentColumns, alertItems, fillThresholds, queueCards, readThresholds } from "./wallboard_view.js";

const $ = (id) => document.getElementById(id);
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const POLL_MS = 2000;

class Wallboard {
  constructor() {
    this.group = new URLSearchParams(window.location.search).get("group");
    this.board = null;
    this.receivedAt = 0;
    this.ws = null;
    this.attempt = 0;
    this.shell = new Shell({
      app: "wallboard",
      onSignedIn: (body) => this.enter(body.user),
      onSignedOut: () => window.location.reload(),
    });
    $("wb-fullscreen").addEventListener("click", () => document.documentElement.requestFullscreen?.());
    $("wb-settings").addEventListener("click", () => this.toggleSettings());
    $("wb-thresholds").addEventListener("submit", (event) => this.saveThresholds(event));
    // What the supervisor typed stays until it is saved: boards keep coming (every second
    // while a time in state ticks) and would put the stored thresholds back under his hands.
    $("wb-thresholds").addEventListener("input", (event) => { event.currentTarget.dataset.edited = "true"; });
    setInterval(() => this.draw(), 1000);
  }

  async enter(user) {
    try {
      if (!this.group) this.group = (await api("GET", "/api/supervisor")).groups[0]?.name || null;
    } catch (err) {
      status(explain(err), true);
      return;
    }
    if (!this.group) {
      status("You supervise no group yet.", true);
      return;
    }
    $("wb-group").textContent = this.group;
    document.title = `Wallboard: ${this.group} · CTI`;
    if (user.role === "supervisor") this.connect();
    else $("wb-link").textContent = "live: polled";
    this.poll();
  }

  connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${window.location.host}/ws`);
    this.ws = ws;
    ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "resume", data: { last_seq: null } })));
    ws.addEventListener("message", (event) => this.onMessage(event.data));
    ws.addEventListener("close", () => {
      this.ws = null;
      this.setLink(false);
      const wait = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      this.attempt += 1;
      setTimeout(() => this.connect(), wait);
    });
  }

  onMessage(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch (err) {
      return;
    }
    if (message.type === "hello") {
      this.attempt = 0;
      this.setLink(true);
    } else if (message.type === "wallboard" && message.data.group === this.group) {
      this.accept(message.data);
    }
  }

  setLink(up) {
    $("wb-link").textContent = up ? "live: connected" : "live: offline";
    $("wb-link").className = `conn ${up ? "conn-up" : "conn-down"}`;
  }

  async poll() {
    const socketUp = this.ws !== null && this.ws.readyState === WebSocket.OPEN;
    if (!socketUp || !this.board) {
      try {
        this.accept(await api("GET", "/api/supervisor/wallboard", { query: { group: this.group } }));
        status("");
      } catch (err) {
        status(explain(err), true);
      }
    }
    setTimeout(() => this.poll(), POLL_MS);
  }

  accept(board) {
    this.board = board;
    this.receivedAt = Date.now() / 1000;
    const form = $("wb-thresholds");
    if (!form.dataset.edited) fillThresholds(form, board.thresholds);
    this.draw();
  }

  draw() {
    $("wb-clock").textContent = new Date().toLocaleTimeString();
    if (!this.board) return;
    const elapsed = Math.max(0, Date.now() / 1000 - this.receivedAt);
    $("wb-queues").replaceChildren(...queueCards(this.board, elapsed));
    $("wb-agents").replaceChildren(...agentColumns(this.board, elapsed));
    const alerts = $("wb-alerts");
    clear(alerts);
    alerts.append(...alertItems(this.board));
    document.body.dataset.alerts = String(this.board.alerts.length);
  }

  toggleSettings() {
    const form = $("wb-thresholds");
    form.hidden = !form.hidden;
    $("wb-settings").setAttribute("aria-expanded", String(!form.hidden));
  }

  async saveThresholds(event) {
    event.preventDefault();
    const form = event.target;
    clearInvalid(form);
    $("wb-thresholds-error").textContent = "";
    try {
      const saved = await api("PUT", "/api/supervisor/wallboard/thresholds",
        { query: { group: this.group }, body: readThresholds(form) });
      status(`Thresholds of ${saved.group} saved.`);
      delete form.dataset.edited;
      this.accept(await api("GET", "/api/supervisor/wallboard", { query: { group: this.group } }));
    } catch (err) {
      markInvalid(form, err);
      $("wb-thresholds-error").textContent = explain(err);
    }
  }
}

new Wallboard().shell.start();
