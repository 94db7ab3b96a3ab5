// One pop card: the daemon's rendered pop (sanitized), the call's live state, call controls,
// notes (autosaved over the websocket) and the disposition.

import { explain, getJson, postJson, withQuery } from "/static/common/http.js";
import { sanitizedFragment } from "./sanitize.js";
import { el, formatDuration, toast } from "/static/common/dom.js";

const NOTES_DEBOUNCE_MS = 600;
const STATE_LABELS = {
  ringing: "Ringing",
  answered: "On call",
  held: "On hold",
  resumed: "On call",
  transferred: "Transferred",
  ended: "Call ended",
};

export class PopCard {
  constructor(board, pop) {
    this.board = board;
    this.callId = pop.call_id;
    this.state = "ringing";
    this.since = Date.now();
    this.notesDirty = false;
    this.notesRef = null;
    this.dispositionValue = "";
    this.timer = null;
    this.data = {};
    this.build();
    this.update(pop);
    const state = pop.card && pop.card.call ? pop.card.call.state : "ringing";
    this.setState(state === "answered" ? "answered" : "ringing");
  }

  // -------------------------------------------------------------------------- building
  build() {
    this.badge = el("span", { class: "badge" });
    this.clock = el("span", { class: "clock", attrs: { "aria-label": "Call time" } });
    this.closeButton = el("button", {
      class: "button ghost small", text: "Close", hidden: true,
      attrs: { type: "button", title: "Remove this card (notes are saved)" },
      on: { click: () => this.board.remove(this.callId) },
    });
    const status = el("div", { class: "card-status" }, this.badge, this.clock, this.closeButton);
    this.body = el("div", { class: "card-body" });
    this.handover = el("div", { class: "handover", hidden: true });
    this.element = el("article", {
      class: "card",
      attrs: { "data-call-id": this.callId, tabindex: "-1", "aria-label": "Call" },
    }, status, el("div", { class: "card-main" }, this.body, this.buildWork()));
    this.element.addEventListener("click", (event) => this.clicked(event));
    this.element.addEventListener("focusin", () => this.board.focus(this.callId));
  }

  buildWork() {
    const id = this.callId.replace(/[^A-Za-z0-9_-]/g, "_");
    this.hangupButton = el("button", {
      class: "button danger", text: "Hang up", attrs: { type: "button" },
      on: { click: () => this.hangup() },
    });
    this.transferTarget = el("input", {
      class: "transfer-target",
      attrs: { id: `xfer-${id}`, list: "colleagues", maxlength: "64", autocomplete: "off", placeholder: "Ext. or number", title: "Extension or number to transfer to" },
    });
    this.blindButton = el("button", {
      class: "button", text: "Transfer", attrs: { type: "button", title: "Blind transfer: the caller goes straight to the target" },
      on: { click: () => this.transfer("blind") },
    });
    this.consultButton = el("button", {
      class: "button", text: "Consult", attrs: { type: "button", title: "Attended transfer: talk to the target first, hang up to complete" },
      on: { click: () => this.transfer("attended") },
    });
    this.consultNote = el("p", { class: "consult-note", hidden: true, attrs: { role: "status" } });
    this.controls = el("div", { class: "controls" },
      el("div", { class: "control-row" }, this.hangupButton),
      this.consultNote,
      el("div", { class: "control-row transfer" },
        el("label", { class: "visually-hidden", text: "Transfer to", attrs: { for: `xfer-${id}` } }),
        this.transferTarget, this.blindButton, this.consultButton));

    this.notes = el("textarea", {
      class: "notes",
      attrs: { id: `notes-${id}`, rows: "6", maxlength: "20000", placeholder: "What the caller needs, what you promised…" },
      on: { input: () => this.notesChanged(), blur: () => this.flushNotes() },
    });
    this.notesStatus = el("span", { class: "saved-state", attrs: { "aria-live": "polite" } });
    this.disposition = el("select", {
      class: "disposition",
      attrs: { id: `disp-${id}` },
      on: { change: () => this.sendDisposition() },
    });
    this.dispositionStatus = el("span", { class: "saved-state", attrs: { "aria-live": "polite" } });
    return el("div", { class: "card-work" },
      this.controls,
      el("div", { class: "field-head" },
        el("label", { text: "Notes", attrs: { for: `notes-${id}` } }), this.notesStatus),
      this.handover,
      this.notes,
      el("div", { class: "field-head" },
        el("label", { text: "Disposition", attrs: { for: `disp-${id}` } }), this.dispositionStatus),
      this.disposition);
  }

  // -------------------------------------------------------------------------- updates
  /** Show a (new) rendering of the pop: late CRM data, answered, transferred in. */
  update(pop) {
    this.data = pop.card || {};
    this.body.replaceChildren(sanitizedFragment(pop.html));
    const call = this.data.call || {};
    this.caller = call.caller_number || "";
    const name = this.body.querySelector(".caller");
    this.element.setAttribute("aria-label", `Call from ${name ? name.textContent.trim() : this.caller}`);
    this.fillDispositions(this.data.dispositions || []);
    if (typeof this.data.notes === "string" && this.data.notes.trim()) {
      this.handover.replaceChildren(
        el("p", { class: "handover-title", text: "Notes handed over with the call" }),
        el("p", { class: "handover-text", text: this.data.notes }));
      this.handover.hidden = false;
    }
  }

  fillDispositions(values) {
    const current = this.dispositionValue || this.disposition.value;
    const options = [el("option", { text: "Choose…", attrs: { value: "" } })];
    for (const value of values) options.push(el("option", { text: value, attrs: { value } }));
    if (current && !values.includes(current)) options.push(el("option", { text: current, attrs: { value: current } }));
    this.disposition.replaceChildren(...options);
    this.disposition.value = current || "";
  }

  setState(state, detail = {}) {
    const previous = this.state;
    this.state = state === "resumed" ? "answered" : state;
    if (state === "answered" && previous !== "answered" && previous !== "held") this.since = Date.now();
    this.element.dataset.state = this.state;
    let label = STATE_LABELS[state] || state;
    if (state === "transferred" && detail.to) label = `Transferred to ${String(detail.to).replace(/^PJSIP\//, "")}`;
    this.badge.textContent = label;
    this.badge.className = `badge badge-${this.state}`;
    const live = this.state === "answered" || this.state === "held";
    for (const control of [this.blindButton, this.consultButton, this.transferTarget]) {
      control.disabled = !live || Boolean(this.consulting);
    }
    // During a consultation the agent is still on the line until they complete the transfer.
    if (this.state === "ended") this.setConsulting(null);
    this.hangupButton.disabled = !(live || (this.consulting && this.state === "transferred"));
    this.closeButton.hidden = !(this.state === "ended" || this.state === "transferred");
    this.tick();
    clearInterval(this.timer);
    if (this.state !== "ended" && this.state !== "transferred") this.timer = setInterval(() => this.tick(), 1000);
  }

  /** Restore what this agent wrote and where the call stands (after a reload). */
  async restore() {
    try {
      const saved = await getJson(withQuery("/api/calls/restore", { call_id: this.callId }));
      if (!this.notesDirty && !this.notes.value && saved.notes) {
        this.notes.value = saved.notes;
        this.notesStatus.textContent = "Saved";
      }
      if (saved.disposition && !this.disposition.value) {
        this.dispositionValue = saved.disposition;
        this.fillDispositions(this.data.dispositions || []);
        this.dispositionStatus.textContent = "Saved";
      }
      if (saved.state === "answered" && this.state === "ringing") {
        this.setState("answered");
        if (saved.answered_at) this.since = this.board.serverToLocal(saved.answered_at);
        this.tick();
      }
    } catch (err) {
      // The card works without it: the agent still sees the pop and can write notes.
    }
  }

  tick() {
    const seconds = (Date.now() - this.since) / 1000;
    this.clock.textContent = this.state === "ended" || this.state === "transferred" ? "" : formatDuration(seconds);
  }

  dispose() {
    clearInterval(this.timer);
    clearTimeout(this.notesTimer);
    this.element.remove();
  }

  // -------------------------------------------------------------------------- notes
  notesChanged() {
    this.notesDirty = true;
    this.notesStatus.textContent = "Editing…";
    clearTimeout(this.notesTimer);
    this.notesTimer = setTimeout(() => this.flushNotes(), NOTES_DEBOUNCE_MS);
  }

  /** Send the whole notes text if it changed since the last save (also after a reconnect). */
  flushNotes() {
    clearTimeout(this.notesTimer);
    if (!this.notesDirty) return;
    const ref = this.board.socket.send("notes", { call_id: this.callId, text: this.notes.value });
    if (ref === null) {
      this.notesStatus.textContent = "Not saved yet (offline)";
      return;
    }
    this.notesRef = ref;
    this.notesDirty = false;
    this.notesStatus.textContent = "Saving…";
  }

  notesSaved(data) {
    if (!this.notesDirty) this.notesStatus.textContent = "Saved";
    if (data.ref && data.ref === this.notesRef) this.notesRef = null;
  }

  sendDisposition() {
    const value = this.disposition.value;
    if (!value) return;
    this.dispositionValue = value;
    const ref = this.board.socket.send("disposition", { call_id: this.callId, value });
    this.dispositionRef = ref;
    this.dispositionStatus.textContent = ref === null ? "Not saved yet (offline)" : "Saving…";
    this.dispositionPending = ref === null;
  }

  dispositionSaved(data) {
    this.dispositionValue = data.value;
    this.dispositionPending = false;
    if (this.disposition.value !== data.value) this.fillDispositions(this.data.dispositions || []);
    this.dispositionStatus.textContent = "Saved";
  }

  failed(error) {
    const message = error.message || "not saved";
    if (error.ref && error.ref === this.notesRef) {
      this.notesDirty = true;
      this.notesStatus.textContent = `Not saved: ${message}`;
    } else {
      this.dispositionStatus.textContent = `Not saved: ${message}`;
    }
  }

  /** After a reconnect: send what could not be sent while offline. */
  resend() {
    this.flushNotes();
    if (this.dispositionPending) this.sendDisposition();
  }

  // -------------------------------------------------------------------------- actions
  clicked(event) {
    const target = event.target.closest("button");
    if (!target || !this.body.contains(target)) return;
    if (target.classList.contains("create-contact")) this.openCreateContact(target.dataset.number || this.caller);
    else if (target.classList.contains("link-number")) this.linkNumber(target);
  }

  async hangup() {
    this.hangupButton.disabled = true;
    const completing = Boolean(this.consulting);
    try {
      await postJson("/api/calls/hangup", { call_id: this.callId });
      if (completing) toast(`Transfer to ${this.consulting} completed.`, "ok");
      this.setConsulting(null);
    } catch (err) {
      toast(`${completing ? "Transfer" : "Hang up"} failed: ${explain(err)}`, "error");
      this.hangupButton.disabled = false;
    }
  }

  /** An attended transfer is under way to `target` (null: none): the hang-up completes it. */
  setConsulting(target) {
    this.consulting = target;
    this.hangupButton.textContent = target ? "Complete transfer" : "Hang up";
    this.consultNote.hidden = !target;
    this.consultNote.textContent = target
      ? `Talking to ${target}; the caller is on hold. Complete the transfer to connect them.`
      : "";
    if (!target) this.hangupButton.disabled = !(this.state === "answered" || this.state === "held");
  }

  async transfer(kind) {
    const target = this.transferTarget.value.trim();
    if (!target) {
      toast("Type an extension or a number to transfer to.", "error");
      this.transferTarget.focus();
      return;
    }
    try {
      const done = await postJson("/api/calls/transfer", { call_id: this.callId, target, kind });
      if (kind === "attended") this.setConsulting(done.target);
      this.setState(this.state);
      toast(kind === "blind"
        ? `Transferring the caller to ${done.target}.`
        : `Consulting ${done.target}: the caller is on hold.`, "ok");
    } catch (err) {
      toast(`Transfer refused: ${explain(err)}`, "error");
    }
  }

  async linkNumber(button) {
    button.disabled = true;
    try {
      await postJson("/api/crm/link", { number: button.dataset.number, ref: button.dataset.ref, call_id: this.callId });
      toast(`${button.dataset.number} is now linked to this record.`, "ok");
    } catch (err) {
      toast(`Could not link the number: ${explain(err)}`, "error");
      button.disabled = false;
    }
  }

  openCreateContact(number) {
    if (this.body.querySelector(".create-form")) return;
    const first = el("input", { attrs: { name: "first_name", maxlength: "80", autocomplete: "off", "aria-label": "First name", placeholder: "First name" } });
    const last = el("input", { attrs: { name: "last_name", maxlength: "80", autocomplete: "off", "aria-label": "Last name", placeholder: "Last name" } });
    const phone = el("input", { attrs: { name: "phone", maxlength: "64", "aria-label": "Phone" } });
    phone.value = number;
    const email = el("input", { attrs: { name: "email", type: "email", maxlength: "254", "aria-label": "E-mail", placeholder: "E-mail (optional)" } });
    const cancel = el("button", { class: "button ghost", text: "Cancel", attrs: { type: "button" } });
    const form = el("form", { class: "create-form" },
      el("p", { class: "form-title", text: "New contact" }), first, last, phone, email,
      el("div", { class: "form-actions" }, el("button", { class: "button primary", text: "Create contact", attrs: { type: "submit" } }), cancel));
    cancel.addEventListener("click", () => form.remove());
    form.addEventListener("keydown", (event) => { if (event.key === "Escape") form.remove(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const made = await postJson("/api/crm/contacts", {
          first_name: first.value, last_name: last.value, phone: phone.value, email: email.value, call_id: this.callId,
        });
        toast(`Contact ${made.contact.name} created.`, "ok");
        form.remove();
      } catch (err) {
        toast(`Contact not created: ${explain(err)}`, "error");
      }
    });
    const anchor = this.body.querySelector(".no-match") || this.body;
    anchor.append(form);
    first.focus();
  }
}
