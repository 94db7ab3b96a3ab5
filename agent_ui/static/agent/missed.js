// Missed calls: calls that rang this agent and nobody answered (kept by the daemon, per agent).
// A badge counts the unseen ones; each entry calls back by click-to-dial or is marked seen.
// Every tab of the agent hears of changes over the websocket ("missed_calls") and reloads.

import { explain, getJson, postJson } from "/static/common/http.js";
import { el, formatWhen, toast } from "/static/common/dom.js";

export class MissedCallsView {
  /** `dial(number)`: the desktop's click-to-dial (desk or browser phone). */
  constructor(dial) {
    this.dial = dial;
    this.list = document.getElementById("missed-list");
    this.badge = document.getElementById("missed-badge");
    this.allSeen = document.getElementById("missed-all-seen");
    this.allSeen.addEventListener("click", () => this.markSeen({ all: true }));
    this.loading = null;
  }

  /** Read the list again (at sign-in, after a reconnect, when another tab or a call changed it). */
  async load() {
    if (this.loading) return this.loading;
    this.loading = (async () => {
      try {
        this.render(await getJson("/api/agent/missed-calls"));
      } catch (err) {
        this.list.replaceChildren(el("li", { class: "form-error", text: `Missed calls: ${explain(err)}` }));
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  /** A websocket message for this view: true when handled. */
  handle(type, data) {
    if (type !== "missed_calls") return false;
    this.showCount(data.unseen);
    this.load();
    return true;
  }

  clear() {
    this.list.replaceChildren();
    this.showCount(0);
  }

  showCount(unseen) {
    const count = Number(unseen) || 0;
    this.badge.textContent = String(count);
    this.badge.hidden = count === 0;
    this.badge.title = `${count} unseen missed call${count === 1 ? "" : "s"}`;
    this.allSeen.hidden = count === 0;
    document.body.dataset.missedUnseen = String(count);
  }

  render(body) {
    this.showCount(body.unseen);
    if (!body.calls.length) {
      this.list.replaceChildren(el("li", { class: "muted", text: "No missed calls." }));
      return;
    }
    this.list.replaceChildren(...body.calls.map((call) => this.item(call)));
  }

  item(call) {
    const who = call.caller_name || call.caller_number || "Unknown caller";
    const actions = el("div", { class: "missed-actions" });
    if (call.caller_number) {
      actions.append(el("button", {
        class: "button small missed-callback", text: "Call back",
        attrs: { type: "button", title: `Call ${call.caller_number} back` },
        on: { click: () => this.callBack(call) },
      }));
    }
    if (!call.seen) {
      actions.append(el("button", {
        class: "button ghost small missed-seen", text: "Mark seen",
        attrs: { type: "button" }, on: { click: () => this.markSeen({ ids: [call.id] }) },
      }));
    }
    const detail = [formatWhen(call.ended_at), call.queue ? `queue ${call.queue}` : null,
      call.caller_name && call.caller_number ? call.caller_number : null].filter(Boolean).join(" · ");
    return el("li", {
      class: `missed-item${call.seen ? " seen" : ""}`,
      attrs: { "data-id": call.id, "data-seen": call.seen ? "1" : "0" },
    },
    el("p", { class: "missed-who", text: who }),
    el("p", { class: "missed-detail muted", text: detail }),
    actions);
  }

  async callBack(call) {
    await this.dial(call.caller_number);
    if (!call.seen) await this.markSeen({ ids: [call.id] });
  }

  async markSeen(body) {
    try {
      const done = await postJson("/api/agent/missed-calls/seen", body);
      this.showCount(done.unseen);
      await this.load();
    } catch (err) {
      toast(`Not marked seen: ${explain(err)}`, "error");
    }
  }
}
