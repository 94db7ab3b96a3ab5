// The board of pop cards: what the websocket says about calls, applied to the page.

import { PopCard } from "./card.js";
import { toast } from "/static/common/dom.js";

const DISMISSED = {
  answered_elsewhere: "was answered by a colleague",
  abandoned: "hung up before anyone answered",
  no_answer: "stopped ringing on your phone",
  rejected: "was declined on your phone",
  ended: "ended",
};

export class PopBoard {
  /** container: the cards' parent; idle: what shows with no card; onFocus(card): a card got focus. */
  constructor(container, idle, socket, onFocus) {
    this.container = container;
    this.idle = idle;
    this.socket = socket;
    this.onFocus = onFocus;
    this.cards = new Map();
    this.clockSkewMs = 0;
    this.focused = null;
  }

  /** Server epoch seconds to a local Date.now() value (hello carries the server's clock). */
  serverToLocal(seconds) {
    return seconds * 1000 - this.clockSkewMs;
  }

  setServerTime(seconds) {
    this.clockSkewMs = seconds * 1000 - Date.now();
  }

  handle(type, data) {
    switch (type) {
      case "snapshot": return this.snapshot(data.pops || []);
      case "pop": return this.show(data, true);
      case "pop_update": return this.show(data, false);
      case "pop_dismissed": return this.dismissed(data);
      case "call_state": return this.callState(data);
      case "notes_saved": return this.cards.get(data.call_id)?.notesSaved(data);
      case "disposition_saved": return this.cards.get(data.call_id)?.dispositionSaved(data);
      default: return undefined;
    }
  }

  /** Replace the live cards with the daemon's open pops; keep ended cards the agent still edits. */
  snapshot(pops) {
    const open = new Set(pops.map((p) => p.call_id));
    for (const [callId, card] of this.cards) {
      if (!open.has(callId) && card.state !== "ended" && card.state !== "transferred") this.remove(callId);
    }
    for (const pop of pops) {
      this.show(pop, !this.cards.has(pop.call_id));
      this.cards.get(pop.call_id)?.restore();
    }
  }

  show(pop, fresh) {
    let card = this.cards.get(pop.call_id);
    if (card) {
      card.update(pop);
    } else {
      card = new PopCard(this, pop);
      this.cards.set(pop.call_id, card);
      this.container.prepend(card.element);
      if (fresh) card.restore();
      this.focus(pop.call_id);
    }
    this.refreshIdle();
  }

  dismissed(data) {
    const card = this.cards.get(data.call_id);
    if (!card) return;
    const who = card.element.querySelector(".caller")?.textContent.trim() || card.caller || "The call";
    this.remove(data.call_id);
    toast(`Call from ${who} ${DISMISSED[data.reason] || "went away"}.`, "info");
  }

  callState(data) {
    const card = this.cards.get(data.call_id);
    if (card) card.setState(data.state, data.detail || {});
  }

  remove(callId) {
    const card = this.cards.get(callId);
    if (!card) return;
    card.flushNotes();
    card.dispose();
    this.cards.delete(callId);
    if (this.focused === callId) this.focused = null;
    this.refreshIdle();
  }

  focus(callId) {
    if (this.focused === callId) return;
    this.focused = callId;
    for (const [id, card] of this.cards) card.element.classList.toggle("focused", id === callId);
    const card = this.cards.get(callId);
    if (card) this.onFocus(card);
  }

  error(data) {
    for (const card of this.cards.values()) {
      if (data.ref && (data.ref === card.notesRef || data.ref === card.dispositionRef)) {
        card.failed(data);
        return true;
      }
    }
    return false;
  }

  resendAll() {
    for (const card of this.cards.values()) card.resend();
  }

  refreshIdle() {
    this.idle.hidden = this.cards.size > 0;
    this.container.dataset.count = String(this.cards.size);
  }
}
