// What the agent sees of recording and monitoring on a call's card: a "Recording" indicator with
// Pause / Resume (POST /api/recordings/pause|resume; the paused span is silence in the file),
// and a notice while a supervisor listens, whispers or barges (when the group tells agents).
// Fed by the websocket's "recording" and "monitoring" messages (cti.recording, cti.monitoring).

import { el, toast } from "/static/common/dom.js";
import { explain, postJson } from "/static/common/http.js";

const MODES = { listen: "listening", whisper: "whispering to you", barge: "in the call" };

export class CallRecordingView {
  /** board: the PopBoard, whose cards (by call id) get the indicator. */
  constructor(board) {
    this.board = board;
    this.recordings = new Map(); // call id -> {paused}
    this.monitors = new Map(); // call id -> mode
  }

  handle(type, data) {
    if (type === "recording") this.recording(data);
    else if (type === "monitoring") this.monitoring(data);
    else return false;
    return true;
  }

  recording(data) {
    if (data.event === "ended") this.recordings.delete(data.call_id);
    else this.recordings.set(data.call_id, { paused: Boolean(data.paused) });
    this.render(data.call_id);
  }

  monitoring(data) {
    if (data.event === "ended") this.monitors.delete(data.call_id);
    else this.monitors.set(data.call_id, data.mode);
    this.render(data.call_id);
  }

  render(callId) {
    const card = this.board.cards.get(callId);
    if (!card) return;
    const status = card.element.querySelector(".card-status");
    status.querySelector(".rec-indicator")?.remove();
    status.querySelector(".monitor-notice")?.remove();
    const rec = this.recordings.get(callId);
    if (rec) status.append(this.indicator(callId, rec));
    const mode = this.monitors.get(callId);
    if (mode) {
      status.append(el("span", {
        class: "monitor-notice", text: `Supervisor ${MODES[mode] || mode}`, attrs: { role: "status" },
      }));
    }
  }

  indicator(callId, rec) {
    const button = el("button", {
      class: "button ghost small rec-toggle",
      text: rec.paused ? "Resume recording" : "Pause recording",
      attrs: { type: "button", title: rec.paused ? "Record again from now" : "Stop recording for card numbers and other private data" },
    });
    button.addEventListener("click", () => this.toggle(callId, !rec.paused, button));
    return el("span", { class: `rec-indicator ${rec.paused ? "rec-paused" : "rec-on"}` },
      el("span", { class: "rec-dot", attrs: { "aria-hidden": "true" } }),
      el("span", { class: "rec-label", text: rec.paused ? "Recording paused" : "Recording" }),
      button);
  }

  async toggle(callId, pause, button) {
    button.disabled = true;
    try {
      await postJson(pause ? "/api/recordings/pause" : "/api/recordings/resume", { call_id: callId });
      this.recordings.set(callId, { paused: pause });
      this.render(callId);
    } catch (err) {
      toast(explain(err), "error");
      button.disabled = false;
    }
  }
}
