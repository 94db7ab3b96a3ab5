// The agent desktop: sign in, then pops over the websocket, click-to-dial, search, history,
// notes, disposition and the agent's state. Served by the daemon; no build step.

import { banner, el, toast } from "/static/common/dom.js";
import { explain, getJson, postJson } from "/static/common/http.js";
import { Shell } from "/static/common/shell.js";
import { AgentStateView } from "./agentstate.js";
import { MissedCallsView } from "./missed.js";
import { CallRecordingView } from "./recording.js";
import { PhoneView } from "./phone_view.js";
import { PopBoard } from "./pops.js";
import { Sidebar } from "./sidebar.js";
import { DesktopSocket } from "./socket.js";

const $ = (id) => document.getElementById(id);
const DIAL_COOLDOWN_MS = 1500;

class Desktop {
  constructor() {
    this.shell = new Shell({
      app: "desktop",
      onSignedIn: (body) => this.signedIn(body),
      onSignedOut: () => this.stop(),
    });
    this.socket = new DesktopSocket({
      onOpen: (hello) => this.online(hello),
      onMessage: (type, data) => this.message(type, data),
      onDown: () => this.offline(),
      onSessionEnded: (reason) => this.shell.signedOut(`You were signed out: ${reason}.`),
      checkSession: () => this.shell.checkSession(),
    });
    this.board = new PopBoard($("pops"), $("idle"), this.socket, (card) => this.cardFocused(card));
    this.sidebar = new Sidebar((number) => this.dial(number));
    this.agentState = new AgentStateView();
    this.recording = new CallRecordingView(this.board);
    this.phone = new PhoneView($("phone"), $("pops"));
    this.missed = new MissedCallsView((number) => this.dial(number));
    $("test-call").addEventListener("click", () => this.testCall());
    document.addEventListener("click", (event) => this.clicked(event));
    document.addEventListener("keydown", (event) => this.key(event));
  }

  start() {
    this.shell.start();
  }

  // -------------------------------------------------------------------------- session
  signedIn(body) {
    const takesCalls = body.user.role !== "admin"; // admins have no phone and no /ws
    for (const id of ["agent-state", "conn-status", "tools", "test-call"]) $(id).hidden = !takesCalls;
    if (!takesCalls) {
      $("idle-title").textContent = "The agent desktop takes calls for agents and supervisors";
      $("idle-text").textContent = "Your admin account has no phone here: use the consoles above.";
      return;
    }
    this.socket.start();
    this.phone.start(body.user.username);
    this.missed.load();
    this.loadColleagues();
  }

  stop() {
    this.socket.stop();
    this.phone.stop();
    this.missed.clear();
    banner(null);
    for (const callId of Array.from(this.board.cards.keys())) this.board.remove(callId);
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
    this.missed.load(); // what was missed while the socket was down
  }

  offline() {
    $("conn-status").textContent = "Reconnecting…";
    $("conn-status").className = "conn conn-down";
  }

  message(type, data) {
    if (type === "agent_state") this.agentState.show(data);
    else if (type === "dial_status") this.dialStatus(data);
    else if (this.missed.handle(type, data)) return;
    else if (type === "error") {
      if (!this.board.error(data)) toast(data.message, "error");
    } else if (!this.recording.handle(type, data)) {
      this.board.handle(type, data);
      if (data && data.call_id) this.recording.render(data.call_id); // a re-rendered card keeps its indicator
    }
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
    // With the browser phone registered, the call starts there and the page answers it.
    const browser = this.phone.usesBrowser();
    if (browser) this.phone.press("expect");
    try {
      const started = await postJson("/api/dial", browser ? { number, phone: "browser" } : { number });
      toast(browser ? `Calling ${started.display}…` : `Calling ${started.display}: pick up your phone when it rings.`, "ok");
    } catch (err) {
      toast(`Not dialled: ${explain(err)}`, "error");
    }
  }

  /** "Ring me a test call": the PBX rings this agent's phone(s); the card pops as it rings. */
  async testCall() {
    const button = $("test-call");
    button.disabled = true;
    try {
      const started = await postJson("/api/agent/test-call", {});
      toast(`Test call from ${started.caller_name || started.caller}: your phone rings now.`, "ok");
    } catch (err) {
      toast(`No test call: ${explain(err)}`, "error");
    } finally {
      setTimeout(() => { button.disabled = false; }, DIAL_COOLDOWN_MS);
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
