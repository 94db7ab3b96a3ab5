// The tools beside the calls: dial a number by hand, search the CRM, the history of a caller.
// Results are JSON data from the daemon, put in the page as text.

import { explain, getJson, postJson, withQuery } from "/static/common/http.js";
import { clear, el, formatDuration, formatWhen, toast } from "/static/common/dom.js";
import { dialButton } from "./ui.js";
import { recordingsOfCall } from "/static/common/player.js";

const KIND_LABELS = { contact: "Contact", account: "Account", case: "Case" };
const OUTCOME_LABELS = {
  answered: "Answered", missed: "Missed", abandoned: "Abandoned", busy: "Busy", failed: "Failed",
};

export class Sidebar {
  constructor(dial) {
    this.dial = dial; // (number) => Promise: click-to-dial
    this.results = document.getElementById("search-results");
    this.historyList = document.getElementById("history-list");
    this.historySubject = document.getElementById("history-subject");
    this.searchInput = document.getElementById("search-q");
    this.historyFor = null;
    this.card = null; // the focused pop card: an unknown caller can be linked to a result
    document.getElementById("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.search(this.searchInput.value);
    });
    const dialInput = document.getElementById("dial-number");
    document.getElementById("dial-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (dialInput.value.trim()) this.dial(dialInput.value.trim());
    });
  }

  focusCard(card) {
    this.card = card;
  }

  /** The focused call's number when no CRM record matched it (it can be linked to one). */
  unknownCaller() {
    const card = this.card;
    if (!card || !card.element.isConnected || card.data.match_count !== "none") return null;
    return /^\+[0-9]{7,15}$/.test(card.caller) ? card : null;
  }

  async link(card, hit, button) {
    button.disabled = true;
    try {
      await postJson("/api/crm/link", { number: card.caller, ref: hit.ref, call_id: card.callId });
      toast(`${card.caller} is now ${hit.title}'s number; the pop shows the record.`, "ok");
      button.remove();
    } catch (err) {
      toast(`Could not link the number: ${explain(err)}`, "error");
      button.disabled = false;
    }
  }

  focusSearch() {
    this.searchInput.focus();
    this.searchInput.select();
  }

  async search(text) {
    const query = text.trim();
    if (!query) return;
    this.results.replaceChildren(el("p", { class: "muted", text: "Searching…" }));
    let found;
    try {
      found = await getJson(withQuery("/api/crm/search", { q: query }));
    } catch (err) {
      this.results.replaceChildren(el("p", { class: "form-error", text: explain(err) }));
      return;
    }
    if (!found.hits.length) {
      this.results.replaceChildren(el("p", { class: "muted", text: `Nothing matches “${query}”.` }));
      return;
    }
    const list = el("ul", { class: "hit-list" });
    for (const hit of found.hits) list.append(this.hitItem(hit));
    this.results.replaceChildren(list);
  }

  hitItem(hit) {
    const history = el("button", {
      class: "button ghost small", text: "History", attrs: { type: "button", title: `Earlier calls of ${hit.title}` },
      on: { click: () => this.showHistory({ ref: hit.ref }, hit.title) },
    });
    const phones = el("div", { class: "hit-phones" }, ...hit.phones.map((p) => dialButton(p.number, p.display)));
    const caller = hit.kind === "contact" ? this.unknownCaller() : null;
    const link = caller ? el("button", {
      class: "button small link-caller", text: "Link caller",
      attrs: { type: "button", title: `Add ${caller.caller} to ${hit.title}'s numbers` },
    }) : null;
    if (link) link.addEventListener("click", () => this.link(caller, hit, link));
    return el("li", { class: "hit" },
      el("div", { class: "hit-head" },
        el("span", { class: `kind kind-${hit.kind}`, text: KIND_LABELS[hit.kind] || hit.kind }),
        el("strong", { class: "hit-title", text: hit.title }),
        link,
        history),
      hit.subtitle ? el("p", { class: "hit-sub", text: hit.subtitle }) : null,
      hit.phones.length ? phones : null);
  }

  /** Show the calls with a number (`{number}`) or a record (`{ref}`); `label` names it. */
  async showHistory(target, label) {
    const key = JSON.stringify(target);
    this.historyFor = key;
    this.historySubject.textContent = label ? `· ${label}` : "";
    this.historyList.replaceChildren(el("p", { class: "muted", text: "Loading…" }));
    let found;
    try {
      found = await getJson(withQuery("/api/crm/history", target));
    } catch (err) {
      if (this.historyFor === key) this.historyList.replaceChildren(el("p", { class: "form-error", text: explain(err) }));
      return;
    }
    if (this.historyFor !== key) return; // another subject was picked meanwhile
    if (!found.calls.length) {
      this.historyList.replaceChildren(el("p", { class: "muted", text: "No earlier calls." }));
      return;
    }
    clear(this.historyList);
    const list = el("ol", { class: "calls-list" });
    for (const call of found.calls) list.append(this.historyItem(call));
    this.historyList.append(list);
  }

  historyItem(call) {
    const inbound = call.direction === "inbound";
    const other = inbound ? call.caller_number : call.called_number;
    const otherDisplay = inbound ? call.caller_display : call.called_display;
    const outcome = OUTCOME_LABELS[call.outcome] || call.outcome;
    return el("li", { class: `past past-${call.outcome}` },
      el("div", { class: "past-head" },
        el("span", { class: "past-when", text: formatWhen(call.started_at) }),
        el("span", { class: `dir dir-${call.direction}`, text: inbound ? "In" : "Out" }),
        el("span", { class: "past-outcome", text: outcome }),
        el("span", { class: "past-duration", text: formatDuration(call.duration_seconds) })),
      el("div", { class: "past-meta" },
        call.agent ? el("span", { text: call.agent }) : null,
        call.disposition ? el("span", { class: "tag", text: call.disposition }) : null,
        other && /^\+?[0-9]+$/.test(other) ? dialButton(other, otherDisplay) : null),
      call.notes ? el("p", { class: "past-notes", text: call.notes }) : null,
      call.call_id ? recordingsOfCall(call.call_id) : null);
  }
}
