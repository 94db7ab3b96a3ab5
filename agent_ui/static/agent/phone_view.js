// What the agent sees of the browser phone (phone.js): a panel with its state, the call, a timer,
// hang up / hold / mute, a keypad (DTMF), transfer, microphone and speaker choice, an input level
// meter; and Answer / Decline on the ringing pop card, so ringing, the card and the phone are one.
//
// One tab of the agent holds the phone (phone_tabs.js). The others show what it is doing, relay
// the buttons pressed in them to it, and offer "Use the phone here"; only the holder rings.

import { el, formatDuration } from "/static/common/dom.js";
import { Phone } from "./phone.js";
import { PhoneTabs } from "./phone_tabs.js";

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

export class PhoneView {
  constructor(root, pops) {
    this.root = root;
    this.pops = pops;
    this.phone = new Phone((event) => this.changed(event));
    this.tabs = new PhoneTabs({
      hold: () => { this.render(null); this.phone.start(); },
      release: () => this.phone.stop(),
      busy: () => Boolean(this.phone.call),
      remote: (state) => this.remote(state),
      command: (action, arg) => this.run(action, arg),
    });
    this.audio = el("audio", { attrs: { autoplay: "" } });
    this.statusLine = el("p", { class: "phone-status", attrs: { id: "phone-status", role: "status" } });
    this.callLine = el("p", { class: "phone-call", attrs: { id: "phone-call" } });
    this.timer = el("span", { class: "phone-timer", attrs: { id: "phone-timer" } });
    this.buttons = {
      answer: this.button("Answer", "phone-answer", () => this.press("answer"), "primary"),
      decline: this.button("Decline", "phone-decline", () => this.press("decline")),
      hangup: this.button("Hang up", "phone-hangup", () => this.press("hangup"), "danger"),
      hold: this.button("Hold", "phone-hold", () => this.press("hold", !this.shown?.held)),
      mute: this.button("Mute", "phone-mute", () => this.press("mute", !this.shown?.muted)),
      take: this.button("Use the phone here", "phone-take", () => this.takeOver()),
    };
    this.keypad = el("div", { class: "keypad", attrs: { id: "phone-keypad" } },
      ...KEYS.map((k) => el("button", { class: "button small key", text: k,
        attrs: { type: "button", "data-digit": k }, on: { click: () => this.press("dtmf", k) } })));
    this.transferInput = el("input", { attrs: { id: "phone-transfer-to", maxlength: "32", placeholder: "Extension", list: "colleagues" } });
    this.transferForm = el("form", { class: "inline-form", on: { submit: (e) => { e.preventDefault(); this.press("transfer", this.transferInput.value.trim()); } } },
      this.transferInput, el("button", { class: "button", text: "Transfer", attrs: { type: "submit", id: "phone-transfer", title: "Blind transfer: the caller goes there now" } }),
      el("button", { class: "button", text: "Consult", attrs: { type: "button", id: "phone-consult", title: "Attended transfer: hold the caller and call there first" },
        on: { click: () => this.press("consult", this.transferInput.value.trim()) } }));
    this.consultLine = el("p", { class: "phone-consult-line", attrs: { id: "phone-consult-line" } });
    this.consultBox = el("div", { class: "phone-consult", hidden: true }, this.consultLine,
      el("div", { class: "phone-controls" },
        this.button("Complete transfer", "phone-complete", () => this.press("complete"), "primary", false),
        this.button("Cancel", "phone-cancel-consult", () => this.press("cancelConsult"), "", false)));
    this.mic = el("select", { attrs: { id: "phone-mic", title: "Microphone" }, on: { change: () => { this.phone.micId = this.mic.value; this.meter(); } } });
    this.speaker = el("select", { attrs: { id: "phone-speaker", title: "Speaker" }, on: { change: () => this.audio.setSinkId?.(this.speaker.value) } });
    this.level = el("meter", { attrs: { id: "phone-level", min: "0", max: "1", value: "0", title: "Microphone level" } });
    this.enabled = el("input", { attrs: { type: "checkbox", id: "phone-enabled", checked: "" }, on: { change: () => this.setEnabled(this.enabled.checked) } });
    this.controls = el("div", { class: "phone-controls" }, ...Object.values(this.buttons));
    this.inCall = el("div", { class: "phone-incall", hidden: true }, this.keypad, this.transferForm);
    root.replaceChildren(this.statusLine,
      el("label", { class: "phone-enabled", attrs: { title: "Off: your calls ring your desk phone only (every tab of yours)" } }, this.enabled, " Use the browser phone"),
      el("div", { class: "phone-line" }, this.callLine, this.timer),
      this.controls, this.inCall, this.consultBox,
      el("div", { class: "phone-devices" }, this.mic, this.speaker, this.level), this.audio);
    this.render(null);
  }

  button(text, id, onClick, kind = "", hidden = true) {
    return el("button", { class: `button small ${kind}`, text, hidden, attrs: { type: "button", id }, on: { click: onClick } });
  }

  /** Start the phone in this tab, or follow it in the tab that holds it; unless the agent
   * turned the browser phone off (kept per agent in this browser, for every tab). */
  start(username) {
    this.offKey = `cti-phone-off:${username}`;
    this.username = username;
    window.__phone = this.phone; // for diagnostics and the browser tests
    window.__phoneTabs = this.tabs;
    this.unload = () => this.phone.stop(); // unregister now rather than when the socket drops
    window.addEventListener("pagehide", this.unload);
    this.storage = (event) => { if (event.key === this.offKey) this.apply(); };
    window.addEventListener("storage", this.storage); // turned on or off in another tab
    this.apply();
  }

  stop() {
    this.tabs.stop();
    window.removeEventListener("pagehide", this.unload);
    window.removeEventListener("storage", this.storage);
    this.ring(false);
  }

  setEnabled(on) {
    if (on) localStorage.removeItem(this.offKey);
    else localStorage.setItem(this.offKey, "1");
    this.apply();
  }

  apply() {
    const on = !localStorage.getItem(this.offKey);
    this.enabled.checked = on;
    if (on && !this.tabs.channel && !this.tabs.holding) this.tabs.start(this.username);
    if (on) return;
    this.tabs.stop();
    this.render(null);
    this.status("off", "Browser phone off: your calls ring your desk phone. Pops arrive here as before.");
  }

  /** A button pressed here: the phone's own command, or relayed to the tab holding it. */
  press(action, arg) {
    if (this.tabs.holding) this.run(action, arg);
    else this.tabs.command(action, arg);
  }

  run(action, arg) {
    const phone = this.phone;
    const commands = { answer: () => phone.answer(), decline: () => phone.decline(),
      hangup: () => phone.hangup(), hold: () => phone.hold(arg), mute: () => phone.mute(arg),
      dtmf: () => phone.dtmf(arg), transfer: () => phone.transfer(arg),
      consult: () => phone.consult(arg), complete: () => phone.completeTransfer(),
      cancelConsult: () => phone.cancelConsult(), expect: () => phone.expectDial() };
    commands[action]?.();
  }

  async takeOver() {
    this.buttons.take.disabled = true;
    this.statusLine.textContent = "Moving your phone to this tab…";
    const result = await this.tabs.takeOver();
    this.buttons.take.disabled = false;
    if (result === "busy") this.statusLine.textContent = "Your phone is on a call in another tab: take it over when the call ends.";
  }

  changed(event) {
    if (!this.tabs.holding) return; // a phone letting go (another tab took it over)
    if (event.kind === "status") {
      this.status(event.status, event.message, event.problem);
      if (event.status === "registered") this.devices();
    } else if (event.kind === "track") {
      this.audio.srcObject = event.stream;
      return;
    } else this.render(event.call);
    this.tabs.announce({ status: this.root.dataset.status, message: this.statusLine.textContent,
      call: this.phone.summary() });
  }

  status(status, message, problem = null) {
    this.statusLine.textContent = message;
    this.root.dataset.status = status;
    this.root.dataset.problem = problem || "";
    this.buttons.take.hidden = status !== "elsewhere";
  }

  /** Whether the agent's calls go through the browser phone (registered, in any tab). */
  usesBrowser() {
    return this.tabs.holding ? this.root.dataset.status === "registered" : this.remoteStatus === "registered";
  }

  /** Another tab holds the phone: show its state (null: not known yet) and offer to take it. */
  remote(state) {
    this.remoteStatus = state?.status;
    const what = state?.status === "registered" ? "" : state?.status === "problem" ? " (with a problem)" : "";
    this.status("elsewhere", `Your phone is open in another tab${what}. Calls ring there.`);
    this.render(state?.call || null);
  }

  render(call) {
    this.shown = call;
    const ringing = call?.state === "ringing" && call.direction === "in";
    this.root.dataset.call = call ? call.state : "idle";
    this.callLine.textContent = call ? `${ringing ? "Ringing: " : ""}${call.peer}${call.held ? " (on hold)" : ""}` : "";
    const b = this.buttons;
    b.answer.hidden = b.decline.hidden = !ringing;
    b.hangup.hidden = !call || ringing;
    b.hold.hidden = b.mute.hidden = call?.state !== "talking";
    b.hold.textContent = call?.held ? "Resume" : "Hold";
    b.mute.textContent = call?.muted ? "Unmute" : "Mute";
    const consult = call?.consult ?? (this.tabs.holding ? this.phone.summary()?.consult : null) ?? null;
    this.root.dataset.consult = consult ? consult.state : "none";
    this.consultBox.hidden = !consult;
    this.consultLine.textContent = consult ? `${consult.state === "talking" ? "Consulting" : "Calling"} ${consult.target}; the caller is on hold` +
      (consult.refused ? `. Not transferred: ${consult.refused}.` : "") : "";
    this.consultBox.querySelector("#phone-complete").disabled = consult?.state !== "talking";
    this.inCall.hidden = call?.state !== "talking" || Boolean(consult);
    this.ring(ringing && this.tabs.holding); // one tab rings
    this.cardButtons(ringing);
    clearInterval(this.tick);
    this.timer.textContent = "";
    if (call?.answeredAt) {
      const show = () => { this.timer.textContent = formatDuration((Date.now() - call.answeredAt) / 1000); };
      show();
      this.tick = setInterval(show, 1000);
    }
  }

  /** Answer / Decline on the pop cards that ring (the card is the phone). A card may pop
   * before or after the phone rings, and re-renders: watch the board while ringing. */
  cardButtons(ringing) {
    this.watching?.disconnect();
    for (const old of this.pops.querySelectorAll(".phone-card-actions")) old.remove();
    if (!ringing) return;
    this.addCardButtons();
    this.watching = new MutationObserver(() => this.addCardButtons());
    this.watching.observe(this.pops, { childList: true, subtree: true, attributes: true, attributeFilter: ["class"] });
  }

  addCardButtons() {
    for (const card of this.pops.querySelectorAll("article.card")) {
      const ringing = Boolean(card.querySelector(".badge-ringing"));
      const shown = card.querySelector(".phone-card-actions");
      if (!ringing) shown?.remove();
      if (!ringing || shown) continue;
      card.append(el("div", { class: "phone-card-actions" },
        el("button", { class: "button primary card-answer", text: "Answer", attrs: { type: "button" }, on: { click: () => this.press("answer") } }),
        el("button", { class: "button card-decline", text: "Decline", attrs: { type: "button" }, on: { click: () => this.press("decline") } })));
    }
  }

  /** A ringtone made by WebAudio (no file to fetch): 400+450 Hz, 2 s on, 4 s off. */
  ring(on) {
    if (!on) {
      clearInterval(this.ringing);
      this.ringing = null;
      return;
    }
    if (this.ringing) return;
    const burst = () => {
      try {
        this.tones = this.tones || new AudioContext();
        const ctx = this.tones;
        const gain = ctx.createGain();
        gain.gain.value = 0.1;
        gain.connect(ctx.destination);
        for (const f of [400, 450]) {
          const osc = ctx.createOscillator();
          osc.frequency.value = f;
          osc.connect(gain);
          osc.start();
          osc.stop(ctx.currentTime + 2);
        }
      } catch (err) { /* no audio output: the card still shows the call */ }
    };
    burst();
    this.ringing = setInterval(burst, 6000);
  }

  async devices() {
    try {
      const all = await navigator.mediaDevices.enumerateDevices();
      const options = (kind) => all.filter((d) => d.kind === kind).map((d, i) =>
        el("option", { text: d.label || `${kind} ${i + 1}`, attrs: { value: d.deviceId } }));
      this.mic.replaceChildren(...options("audioinput"));
      this.speaker.replaceChildren(...options("audiooutput"));
      this.speaker.hidden = !this.audio.setSinkId;
      await this.meter();
    } catch (err) {
      this.statusLine.textContent += " (devices cannot be listed)";
    }
  }

  /** The input level meter: the chosen microphone's loudness, a few times a second. */
  async meter() {
    this.meterStream?.getTracks().forEach((t) => t.stop());
    clearInterval(this.meterTick);
    try {
      this.meterStream = await navigator.mediaDevices.getUserMedia({ audio: this.phone.constraints().audio });
    } catch (err) {
      this.changed({ kind: "status", status: "problem", problem: "microphone", message: (await import("./phone.js")).PROBLEMS.microphone });
      return;
    }
    const ctx = this.tones = this.tones || new AudioContext();
    const analyser = ctx.createAnalyser();
    ctx.createMediaStreamSource(this.meterStream).connect(analyser);
    const data = new Uint8Array(analyser.fftSize);
    this.meterTick = setInterval(() => {
      analyser.getByteTimeDomainData(data);
      const peak = data.reduce((m, v) => Math.max(m, Math.abs(v - 128)), 0) / 128;
      this.level.value = peak;
    }, 200);
  }
}
