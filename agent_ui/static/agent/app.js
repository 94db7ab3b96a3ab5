// The agent desktop: sign in, then pops over the websocket, click-to-dial, search, history,
// notes, disposition and the agent's state. Served by the daemon; no build step.

import { AgentStateView } from "./agentstate.js";
import { ApiError, explain, getJson, postJson, setCsrf } from "./api.js";
import { PopBoard } from "./pops.js";
import { Sidebar } from "./sidebar.js";
import { DesktopSocket } from "./socket.js";
import { banner, el, toast } from "./ui.js";

const $ = (id) => document.getElementById(id);
const DIAL_COOLDOWN_MS = 1500;

class Desktop {
  constructor() {
    this.socket = new DesktopSocket({
      onOpen: (hello) => this.online(hello),
      onMessage: (type, data) => this.message(type, data),
      onDown: () => this.offline(),
      onSessionEnded: (reason) => this.signedOut(`You were signed out: ${reason}.`),
      checkSession: () => this.checkSession(),
    });
    this.board = new PopBoard($("pops"), $("idle"), this.socket, (card) => this.cardFocused(card));
    this.sidebar = new Sidebar((number) => this.dial(number));
    this.agentState = new AgentStateView();
    this.user = null;
    document.addEventListener("click", (event) => this.clicked(event));
    document.addEventListener("keydown", (event) => this.key(event));
    $("login-form").addEventListener("submit", (event) => this.login(event));
    $("logout").addEventListener("click", () => this.logout());
  }

  async start() {
    try {
      this.signedIn(await getJson("/api/me"));
    } catch (err) {
      this.showLogin(err instanceof ApiError && err.status === 401 ? "" : explain(err));
    }
  }

  // -------------------------------------------------------------------------- session
  showLogin(message) {
    $("desktop").hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = message || "";
    $("login-username").focus();
  }

  async login(event) {
    event.preventDefault();
    const form = event.target;
    $("login-error").textContent = "";
    try {
      const body = await postJson("/login", {
        username: form.username.value.trim(),
        password: form.password.value,
      });
      form.password.value = "";
      this.signedIn(body);
    } catch (err) {
      $("login-error").textContent = explain(err);
    }
  }

  signedIn(body) {
    this.user = body.user;
    setCsrf(body.csrf);
    if (body.user.role === "admin") {
      this.showLogin("This desktop is for agents and supervisors; sign in with an agent account.");
      return;
    }
    $("me-name").textContent = body.user.display_name || body.user.username;
    $("login-view").hidden = true;
    $("desktop").hidden = false;
    this.socket.start();
    this.loadColleagues();
  }

  async logout() {
    this.socket.stop();
    try {
      await postJson("/logout");
    } catch (err) {
      // Signed out locally either way; the cookie expires with the shift.
    }
    this.signedOut("");
  }

  signedOut(message) {
    this.socket.stop();
    banner(null);
    for (const callId of Array.from(this.board.cards.keys())) this.board.remove(callId);
    setCsrf("");
    this.showLogin(message);
  }

  async checkSession() {
    try {
      const body = await getJson("/api/me");
      setCsrf(body.csrf);
      return true;
    } catch (err) {
      return !(err instanceof ApiError && err.status === 401);
    }
  }

  // -------------------------------------------------------------------------- socket
  online(hello) {
    document.body.dataset.resume = hello.resume.mode; // "replay" or "snapshot": for diagnostics
    $("conn-status").textContent = "Connected";
    $("conn-status").className = "conn conn-up";
    this.board.setServerTime(hello.server_time);
    this.agentState.setServerTime(hello.server_time);
    this.agentState.load();
    this.board.resendAll();
  }

  offline() {
    $("conn-status").textContent = "Reconnecting…";
    $("conn-status").className = "conn conn-down";
  }

  message(type, data) {
    if (type === "agent_state") this.agentState.show(data);
    else if (type === "dial_status") this.dialStatus(data);
    else if (type === "error") {
      if (!this.board.error(data)) toast(data.message, "error");
    } else this.board.handle(type, data);
  }

  // -------------------------------------------------------------------------- dialing
  clicked(event) {
    const button = event.target.closest("button.dial");
    if (!button || !document.body.contains(button)) return;
    event.preventDefault();
    if (button.dataset.busy) return;
    button.dataset.busy = "1";
    button.classList.add("busy");
    setTimeout(() => {
      delete button.dataset.busy;
      button.classList.remove("busy");
    }, DIAL_COOLDOWN_MS);
    this.dial(button.dataset.number || "");
  }

  async dial(number) {
    try {
      const started = await postJson("/api/dial", { number });
      toast(`Calling ${started.display}: pick up your phone when it rings.`, "ok");
    } catch (err) {
      toast(`Not dialled: ${explain(err)}`, "error");
    }
  }

  dialStatus(data) {
    if (data.status === "answered") toast(`Your phone is connected; dialling ${data.number}…`, "info");
    else toast(`Call to ${data.number} not placed: ${data.message || "your phone did not answer"}.`, "error");
  }

  // -------------------------------------------------------------------------- misc
  cardFocused(card) {
    this.sidebar.focusCard(card);
    if (card.caller && /^\+[0-9]{7,15}$/.test(card.caller)) {
      const name = card.element.querySelector(".caller")?.textContent.trim() || card.caller;
      this.sidebar.showHistory({ number: card.caller }, name);
    }
  }

  async loadColleagues() {
    try {
      const body = await getJson("/api/agent/colleagues");
      $("colleagues").replaceChildren(...body.colleagues.map((c) =>
        el("option", { text: c.name, attrs: { value: c.extension, label: `${c.name} (${c.extension})` } })));
    } catch (err) {
      // Transfers still work by typing the extension.
    }
  }

  key(event) {
    const typing = event.target.closest("input, textarea, select");
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      this.sidebar.focusSearch();
    }
  }
}

new Desktop().start();
