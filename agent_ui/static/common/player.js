// A recording in the page: an <audio> element on the recording's URL, which the daemon serves
// with HTTP range requests (206), so the browser seeks without downloading the whole file.
// The paused spans the agent marked are listed under it. Used by the agent's call history and
// the supervisor's recordings list.

import { el, formatDuration, formatWhen } from "/static/common/dom.js";
import { getJson, withQuery } from "/static/common/http.js";

/** A player for one recording row (`as_dict()` of cti.recording.rows.RecordingRow). */
export function recordingPlayer(recording, { label = "" } = {}) {
  if (recording.deleted) {
    return el("p", { class: "muted recording-gone", text: "Recording deleted after its retention." });
  }
  const audio = el("audio", {
    class: "recording-audio",
    attrs: { controls: "", preload: "metadata", src: recording.url, "data-recording": recording.id },
  });
  audio.addEventListener("error", () => {
    audio.replaceWith(el("p", { class: "form-error", text: "This recording cannot be played (missing on the server, or not yours to hear)." }));
  });
  const pauses = (recording.pauses || []).map(([from, to]) =>
    `${formatDuration(from)}–${to === null ? "end" : formatDuration(to)}`);
  return el("figure", { class: "recording", attrs: { "data-recording": recording.id } },
    audio,
    el("figcaption", { class: "recording-meta" },
      el("span", { text: label || formatWhen(recording.started_at) }),
      pauses.length ? el("span", { class: "tag", text: `paused ${pauses.join(", ")}` }) : null,
      el("a", { class: "recording-download", text: "Download", attrs: { href: `${recording.url}?download=1` } })));
}

/** A "Recording" button that fetches the call's recordings on demand and shows their players. */
export function recordingsOfCall(callId) {
  const box = el("div", { class: "recordings" });
  const button = el("button", {
    class: "button ghost small", text: "Recording",
    attrs: { type: "button", title: "Play this call's recording", "data-call-recordings": callId },
  });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const found = await getJson(withQuery("/api/recordings", { call_id: callId }));
      box.replaceChildren(...(found.recordings.length
        ? found.recordings.map((r) => recordingPlayer(r))
        : [el("p", { class: "muted", text: "No recording of this call." })]));
      button.hidden = true;
    } catch (err) {
      box.replaceChildren(el("p", { class: "form-error", text: err.message }));
      button.disabled = false;
    }
  });
  return el("div", { class: "recordings-of-call" }, button, box);
}
