// The agent websocket (docs/protocol.md): resume with the last seq and epoch, detect gaps,
// reconnect by itself with backoff, and say so in the banner while the link is down.

import { banner } from "/static/common/dom.js";

const STREAM = new Set([
  "pop", "pop_update", "pop_dismissed", "call_state", "notes_saved", "disposition_saved",
  "agent_state", "dial_status",
]);
const PING_EVERY_MS = 20000;
const PONG_WITHIN_MS = 10000;
const HELLO_WITHIN_MS = 8000; // from opening a socket to the daemon's hello
// A dead link (no FIN, no reset) gives no close event until the browser's closing handshake
// times out, a minute later: a socket that misses its pong or hello is given up at once.
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];

export class DesktopSocket {
  /**
   * handlers: { onMessage(type, data), onOpen(hello), onDown(), onSessionEnded(reason) }
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.ws = null;
    this.lastSeq = null; // null: a fresh page, the daemon sends a snapshot
    this.epoch = null;
    this.attempt = 0;
    this.stopped = false;
    this.timer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.helloTimer = null;
    this.refs = 0;
    this.ready = false;
  }

  get connected() {
    return this.ready && this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.helloTimer);
    this.stopPing();
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
    this.ready = false;
  }

  /** Send a message; returns its ref, or null when the socket is not open. */
  send(type, data) {
    if (!this.connected) return null;
    this.refs += 1;
    const ref = `${type[0]}${this.refs}`;
    this.ws.send(JSON.stringify({ type, data, ref }));
    return ref;
  }

  open() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${window.location.host}/ws`);
    this.ws = ws;
    this.ready = false;
    clearTimeout(this.helloTimer);
    this.helloTimer = setTimeout(() => {
      if (ws === this.ws && !this.ready) this.abandon(ws, "no hello");
    }, HELLO_WITHIN_MS);
    ws.addEventListener("open", () => {
      const data = { last_seq: this.lastSeq };
      if (this.epoch) data.epoch = this.epoch;
      ws.send(JSON.stringify({ type: "resume", data }));
    });
    ws.addEventListener("message", (event) => this.receive(ws, event.data));
    ws.addEventListener("close", (event) => this.closed(ws, event));
  }

  receive(ws, text) {
    if (ws !== this.ws) return;
    let message;
    try {
      message = JSON.parse(text);
    } catch (err) {
      this.abandon(ws, "unreadable frame");
      return;
    }
    const { type, seq, data } = message;
    if (type === "hello") {
      this.lastSeq = data.resume.seq;
      this.epoch = data.resume.epoch;
      this.attempt = 0;
      this.ready = true;
      clearTimeout(this.helloTimer);
      banner(null);
      this.startPing();
      this.handlers.onOpen(data);
      return;
    }
    if (type === "snapshot") {
      this.lastSeq = seq;
    } else if (STREAM.has(type)) {
      if (seq !== this.lastSeq + 1) {
        this.abandon(ws, "gap in seq"); // something was lost: resume from what we applied
        return;
      }
      this.lastSeq = seq;
    } else if (type === "pong") {
      clearTimeout(this.pongTimer);
      return;
    }
    this.handlers.onMessage(type, data);
  }

  /** Give ``ws`` up now: down, banner, reconnect; its own close event comes when it comes. */
  abandon(ws, reason) {
    if (ws !== this.ws) return;
    try {
      ws.close(1000, reason);
    } catch (err) {
      // closing a socket that never opened may throw; it is given up either way
    }
    this.closed(ws, { code: 1006, reason });
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    clearTimeout(this.helloTimer);
    this.ws = null;
    this.ready = false;
    this.stopPing();
    if (this.stopped) return;
    this.handlers.onDown();
    if (event.code === 1008) {
      this.handlers.onSessionEnded(event.reason || "your session ended");
      return;
    }
    if (event.code === 4008) {  // this user has too many tabs open: another one would be refused too
      banner(event.reason || "Too many open tabs: close another one and reload this page.", "error");
      return;
    }
    const wait = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    const jittered = Math.round(wait * (0.8 + Math.random() * 0.4));
    banner(`Connection to the CTI server lost — reconnecting in ${Math.ceil(jittered / 1000)} s. ` +
      "Calls keep ringing on your phone; pops come back when the link does.", "warn");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reconnect(), jittered);
  }

  async reconnect() {
    if (this.stopped) return;
    if (this.attempt >= 3 && this.handlers.checkSession && !(await this.handlers.checkSession())) {
      this.handlers.onSessionEnded("your session ended");
      return;
    }
    this.open();
  }

  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (!this.connected) return;
      this.ws.send(JSON.stringify({ type: "ping", ref: "keepalive" }));
      clearTimeout(this.pongTimer);
      const ws = this.ws;
      this.pongTimer = setTimeout(() => this.abandon(ws, "no pong"), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }
}
