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
  unreachable: "The PBX's websocket cannot be reached (PBX down, wrong address, or a certificate the browser does not trust), so the browser phone is off. Pops still arrive; answer on your desk phone.",
  no_webrtc: "The PBX answers but refuses the browser phone's websocket: Asterisk without its WebRTC modules (res_http_websocket, res_pjsip_transport_websocket), or a wrong websocket path. Pops still arrive; ask your PBX admin.",
};

/** Whether a server answers HTTP at the websocket's address (any status: a no-cors request
 *  resolves on an answer and rejects when nothing answers). A page cannot see why a websocket
 *  upgrade failed: Asterisk without res_http_websocket answers it 404, without
 *  res_pjsip_transport_websocket 400, and both look like a closed port to the page. */
export async function answersHttp(wsUrl) {
  try {
    await fetch(wsUrl.replace(/^ws/, "http"), { mode: "no-cors", cache: "no-store", credentials: "omit", signal: AbortSignal.timeout(3000) });
    return true;
  } catch {
    return false;
  }
}

export class Phone {
  constructor(onChange) {
    this.onChange = onChange;
    this.ua = null;
    this.call = null; // {session, direction, peer, state, held, muted, answeredAt}
    this.consultation = null; // the consultation of an attended transfer: {session, target, state}
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
    on("disconnected", () => this.disconnected(ua, reg.ws_url));
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
    for (const leg of [this.consultation, this.call]) if (leg?.session && !leg.session.isEnded()) leg.session.terminate();
    this.consultation = null;
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
    const c = this.consultation;
    const consult = c ? { target: c.target, state: c.state, refused: c.refused || null } : null;
    return { direction, peer, number, state, held, muted, answeredAt, consult };
  }

  /** The websocket closed or never opened: say whether the PBX answers at all (JsSIP keeps
   *  trying to connect, so the phone registers once the PBX or its modules are back). */
  async disconnected(ua, wsUrl) {
    const problem = (await answersHttp(wsUrl)) ? "no_webrtc" : "unreachable";
    if (this.ua === ua && !ua.isConnected()) this.status("problem", PROBLEMS[problem], problem);
  }

  status(status, message, problem = null, cause = null) {
    this.state = { status, message, problem, cause };
    this.onChange({ kind: "status", ...this.state });
  }

  // ------------------------------------------------------------------------ calls
  session(session, originator) {
    if (originator === "local" && this.consultation && !this.consultation.session) return this.consulting(session);
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
    session.on("ended", () => this.ended(session));
    session.on("failed", () => this.ended(session));
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

  /** The call ended (or ``session``'s did): a consultation still up becomes the call. */
  ended(session = null) {
    if (session && this.call && this.call.session !== session) return;
    const consult = this.consultation;
    this.consultation = null;
    this.call = null;
    this.pc = null;
    if (consult?.session && !consult.session.isEnded() && consult.state === "talking") {
      this.call = { session: consult.session, direction: "out", state: "talking", peer: consult.target,
        number: consult.target, held: false, muted: false, answeredAt: consult.answeredAt };
      consult.session.removeAllListeners("ended");
      consult.session.removeAllListeners("failed");
      consult.session.on("ended", () => this.ended(consult.session));
      consult.session.on("failed", () => this.ended(consult.session));
      this.pc = consult.session.connection;
    }
    this.changed();
  }

  // ------------------------------------------------------------------ attended transfer
  /** Put the caller on hold and call ``target`` (the consultation), from this phone. */
  consult(target) {
    if (!this.ua || !this.call || this.call.state !== "talking" || this.consultation || !target) return;
    this.consultation = { session: null, target, state: "calling", answeredAt: null };
    if (!this.call.held) this.call.session.hold();
    this.ua.call(target, { mediaConstraints: this.constraints(), pcConfig: { iceServers: [] } });
    this.changed();
  }

  consulting(session) {
    const consult = this.consultation;
    consult.session = session;
    const set = (fields) => { if (this.consultation === consult) { Object.assign(consult, fields); this.changed(); } };
    session.on("peerconnection", (e) => this.media(e.peerconnection));
    session.on("accepted", () => set({ state: "talking", answeredAt: Date.now() }));
    session.on("confirmed", () => set({ state: "talking" }));
    const gone = () => {
      if (this.consultation !== consult || consult.completing) return;
      this.consultation = null;
      this.resume(); // the colleague declined or hung up: back to the caller
    };
    session.on("ended", gone);
    session.on("failed", gone);
    this.changed();
  }

  /** Complete the attended transfer: the caller and the colleague are joined (REFER with
   * Replaces, RFC 3891), and both of this phone's calls end. */
  completeTransfer() {
    const consult = this.consultation;
    if (!this.call || !consult?.session || consult.state !== "talking") return;
    consult.completing = true; // Asterisk now ends both calls: do not take the caller off hold
    const refused = (e) => {
      consult.completing = false;
      consult.refused = `the PBX refused the transfer (${e?.response?.status_code || e?.cause || "no answer"})`;
      console.warn("attended transfer:", consult.refused);
      this.changed();
    };
    this.call.session.refer(consult.session.remote_identity.uri, {
      replaces: consult.session,
      // RFC 5589: the transferor ends both of its calls once the transfer is done (NOTIFY 200).
      eventHandlers: { requestFailed: refused, failed: refused, accepted: () => this.transferred(consult) },
    });
  }

  transferred(consult) {
    for (const leg of [consult.session, this.call?.session]) {
      try {
        if (leg && !leg.isEnded()) leg.terminate();
      } catch (err) { /* already ending */ }
    }
    this.consultation = null;
    this.ended();
  }

  /** Cancel the consultation: hang up on the colleague and take the caller off hold. */
  cancelConsult() {
    const consult = this.consultation;
    if (!consult) return;
    this.consultation = null;
    if (consult.session && !consult.session.isEnded()) consult.session.terminate();
    this.resume();
  }

  resume() {
    if (!this.call) return this.changed();
    if (this.call.held) this.call.session.unhold();
    const pc = this.pc = this.call.session.connection;
    const tracks = pc ? pc.getReceivers().map((r) => r.track).filter(Boolean) : [];
    if (tracks.length) this.onChange({ kind: "track", stream: new MediaStream(tracks) });
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
