// The agent's browser phone (WebRTC): one JsSIP user agent registered as the agent's own
// <ext>-webrtc endpoint, with the registration the daemon hands the signed-in agent
// (GET /api/phone/registration). No UI here: PhoneView (phone_view.js) shows what this tells.
//
// Events (onChange): {kind: "status", status, message} for registration and failures, and
// {kind: "call", call} whenever the current call changes (null when none).

import JsSIP from "/static/vendor/jssip.js";
import { getJson } from "/static/common/http.js";

export const PROBLEMS = {
  insecure: "The browser phone needs a secure page (https, or localhost): the browser refuses the microphone here. Pops still arrive; answer on your desk phone.",
  microphone: "The microphone was refused: allow it for this site in the browser's address bar, then reload. Pops still arrive.",
  refused: "The PBX refused the browser phone's registration (wrong credentials or no such phone). Pops still arrive; ask your PBX admin.",
  unreachable: "The PBX's websocket cannot be reached (PBX down, or without its WebRTC modules), so the browser phone is off. Pops still arrive; answer on your desk phone.",
};

export class Phone {
  constructor(onChange) {
    this.onChange = onChange;
    this.ua = null;
    this.call = null; // {session, direction, peer, state, held, muted, answeredAt}
    this.micId = "";
    this.registration = null;
  }

  /** Fetch this agent's registration and register; a problem is reported, never thrown. */
  async start() {
    if (!window.isSecureContext || !navigator.mediaDevices) return this.status("problem", PROBLEMS.insecure, "insecure");
    try {
      this.registration = await getJson("/api/phone/registration");
    } catch (err) {
      return this.status("off", err.message || "No browser phone for you on this site.", "not_set_up");
    }
    this.connect(this.registration);
  }

  connect(reg) {
    const socket = new JsSIP.WebSocketInterface(reg.ws_url);
    const config = {
      sockets: [socket], uri: reg.uri, authorization_user: reg.authorization_user,
      display_name: reg.display_name, register: true, session_timers: false,
      connection_recovery_min_interval: 2, connection_recovery_max_interval: 10,
    };
    if (reg.ha1) Object.assign(config, { ha1: reg.ha1, realm: reg.realm });
    else config.password = reg.password;
    const ua = this.ua = new JsSIP.UA(config);
    // Events of a UA that stop() let go of (it is unregistering) say nothing any more.
    const on = (name, handler) => ua.on(name, (e) => { if (this.ua === ua) handler(e); });
    on("connected", () => this.status("connecting", "Registering your browser phone…"));
    // A refused websocket upgrade (Asterisk without res_http_websocket and
    // res_pjsip_transport_websocket) and a closed port look alike to a page: one message.
    on("disconnected", () => this.status("problem", PROBLEMS.unreachable, "unreachable"));
    on("registered", () => this.status("registered", `Browser phone ready: extension ${reg.extension}`));
    on("registrationFailed", (e) => this.status("problem", PROBLEMS.refused, "refused", e.cause));
    on("newRTCSession", (e) => this.session(e.session, e.originator));
    this.status("connecting", "Connecting your browser phone…");
    ua.start();
  }

  /** Hang up, unregister and close the websocket; resolves once done (or after 2 s). */
  stop() {
    const ua = this.ua;
    this.ua = null;
    if (this.call && !this.call.session.isEnded()) this.call.session.terminate();
    this.ended();
    if (!ua) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 2000);
      ua.on("disconnected", () => { clearTimeout(timer); resolve(); });
      ua.stop();
    });
  }

  /** What other tabs may know of the current call (no session, no media). */
  summary() {
    if (!this.call) return null;
    const { direction, peer, number, state, held, muted, answeredAt } = this.call;
    return { direction, peer, number, state, held, muted, answeredAt };
  }

  status(status, message, problem = null, cause = null) {
    this.state = { status, message, problem, cause };
    this.onChange({ kind: "status", ...this.state });
  }

  // ------------------------------------------------------------------------ calls
  session(session, originator) {
    if (this.call && originator === "remote") return session.terminate({ status_code: 486 });
    const peer = session.remote_identity;
    this.call = { session, direction: originator === "remote" ? "in" : "out", state: "ringing",
      peer: peer.display_name || peer.uri.user, number: peer.uri.user, held: false, muted: false,
      answeredAt: null };
    session.on("peerconnection", (e) => this.media(e.peerconnection));
    if (session.connection) this.media(session.connection);
    session.on("accepted", () => this.update({ state: "talking", answeredAt: Date.now() }));
    session.on("confirmed", () => this.update({ state: "talking", answeredAt: this.call?.answeredAt || Date.now() }));
    session.on("hold", () => this.update({ held: true }));
    session.on("unhold", () => this.update({ held: false }));
    session.on("ended", () => this.ended());
    session.on("failed", () => this.ended());
    this.changed();
    // Click-to-dial rings this phone first (the CTI's Originate, shown as "Dial <number>"):
    // the agent asked for it a moment ago, so it answers by itself.
    const dialling = Date.now() < (this.dialUntil || 0) && /^Dial /.test(peer.display_name || "");
    if (originator === "remote" && dialling) {
      this.dialUntil = 0;
      setTimeout(() => this.answer(), 0);
    }
  }

  /** The agent clicked to dial with this phone: answer its ring in the next 30 s by itself. */
  expectDial() {
    this.dialUntil = Date.now() + 30_000;
  }

  media(pc) {
    this.pc = pc;
    pc.addEventListener("track", (e) => this.onChange({ kind: "track", stream: e.streams[0] }));
  }

  update(fields) {
    if (!this.call) return;
    Object.assign(this.call, fields);
    this.changed();
  }

  ended() {
    this.call = null;
    this.pc = null;
    this.changed();
  }

  changed() {
    this.onChange({ kind: "call", call: this.call });
  }

  answer() {
    if (!this.call || this.call.state !== "ringing" || this.call.direction !== "in") return;
    this.call.session.answer({ mediaConstraints: this.constraints(), pcConfig: { iceServers: [] } });
  }

  decline() {
    if (this.call && this.call.state === "ringing") this.call.session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
  }

  hangup() {
    if (this.call) this.call.session.terminate();
  }

  hold(on) {
    if (!this.call || this.call.state !== "talking") return;
    if (on) this.call.session.hold(); else this.call.session.unhold();
  }

  mute(on) {
    if (!this.call) return;
    if (on) this.call.session.mute({ audio: true }); else this.call.session.unmute({ audio: true });
    this.update({ muted: on });
  }

  dtmf(digit) {
    if (this.call && this.call.state === "talking") this.call.session.sendDTMF(digit, { transportType: "RFC2833" });
  }

  /** Blind transfer (SIP REFER): the caller goes to `target` and this call ends. */
  transfer(target) {
    if (this.call && this.call.state === "talking") this.call.session.refer(target);
  }

  dial(target) {
    if (!this.ua || this.call) return;
    this.ua.call(target, { mediaConstraints: this.constraints(), pcConfig: { iceServers: [] } });
  }

  constraints() {
    return { audio: this.micId ? { deviceId: { exact: this.micId } } : true, video: false };
  }

  /** The call's media counters from WebRTC stats: packets sent and received. */
  async stats() {
    const out = { sent: 0, received: 0 };
    if (!this.pc) return out;
    (await this.pc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "audio") out.sent += s.packetsSent || 0;
      if (s.type === "inbound-rtp" && s.kind === "audio") out.received += s.packetsReceived || 0;
    });
    return out;
  }
}
