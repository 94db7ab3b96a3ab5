// Which of an agent's tabs holds the browser phone: exactly one at a time, so a call rings once
// and no tab's registration replaces another's (Asterisk keeps one browser contact per agent).
//
// The holder is the tab holding the Web Lock "cti-phone:<username>" (navigator.locks); the others
// wait in the lock's queue, so when the holder closes (or crashes: the browser releases a dead
// document's locks) the next tab gets the lock at once and registers. A BroadcastChannel of the
// same name carries the rest:
//   {type: "state", tab, status, message, call}   the holder's phone, so other tabs can show it
//   {type: "who"}                                 a new tab asks the holder to say its state
//   {type: "yield", tab}                          a tab asks to take the phone over
//   {type: "yielded" | "busy", to}                the holder's answer (busy: it is on a call)
//   {type: "command", action, arg}                Answer / Decline pressed in another tab
// A take-over: the asking tab sends "yield"; the holder unregisters its phone and says "yielded"
// (or "busy"); the asker then takes the lock with `steal`, and the old holder, whose lock request
// fails with AbortError, queues again behind it. The phone is unregistered before the new tab
// registers, so nothing rings twice.

const ANSWER_WAIT_MS = 3000;

export class PhoneTabs {
  /**
   * hooks: hold() -> starts the phone here; release() -> Promise, stops (unregisters) it;
   * busy() -> whether this tab's phone is on a call; remote(state) -> another tab holds the
   * phone (its last state); command(action, arg) -> run a command another tab relayed.
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    this.holding = false;
    this.channel = null;
    this.queued = null; // AbortController of this tab's request in the lock's queue
    this.done = null; // resolves the lock callback: releases the lock
    this.waiters = new Map(); // tab id -> resolve(answer) of a take-over in flight
  }

  /** Whether this browser can share the phone between tabs (Web Locks need a secure page). */
  static supported() {
    return Boolean(navigator.locks && window.BroadcastChannel);
  }

  start(username) {
    this.name = `cti-phone:${username}`;
    if (!PhoneTabs.supported()) return this.granted(); // one tab's view: hold it
    this.channel = new BroadcastChannel(this.name);
    this.channel.onmessage = (event) => this.received(event.data || {});
    this.post({ type: "who" });
    this.queue(false);
    // Held by another tab already: say so now, before its state arrives.
    navigator.locks.query().then(({ held }) => {
      if (!this.holding && held.some((lock) => lock.name === this.name)) this.hooks.remote(null);
    }).catch(() => {});
  }

  stop() {
    this.queued?.abort();
    this.queued = null;
    this.release();
    this.channel?.close();
    this.channel = null;
  }

  /** Tell the other tabs what the phone here is doing (holder only). */
  announce(state) {
    this.last = state;
    if (this.holding) this.post({ type: "state", tab: this.id, ...state });
  }

  /** Relay a command to the tab holding the phone. */
  command(action, arg = null) {
    this.post({ type: "command", action, arg });
  }

  /** Take the phone over from the tab holding it: resolves "taken", "busy" or "failed". */
  async takeOver() {
    if (this.holding || !this.channel) return "taken";
    const answer = new Promise((resolve) => {
      this.waiters.set(this.id, resolve);
      setTimeout(() => resolve("gone"), ANSWER_WAIT_MS); // the holder closed meanwhile
    });
    this.post({ type: "yield", tab: this.id });
    const said = await answer;
    this.waiters.delete(this.id);
    if (said === "busy") return "busy";
    if (this.holding) return "taken"; // the lock came by itself (the holder closed)
    this.queued?.abort();
    this.queue(true);
    return "taken";
  }

  // ------------------------------------------------------------------------ internals
  queue(steal) {
    const controller = new AbortController();
    this.queued = controller;
    const options = steal ? { steal: true } : { signal: controller.signal };
    navigator.locks.request(this.name, options, () => this.granted())
      .catch((err) => {
        if (this.queued !== controller) return; // aborted by us: a newer request stands
        // AbortError here: another tab stole the lock after we yielded. Wait our turn again.
        this.lost();
        this.done = null;
        if (this.channel) this.queue(false);
        return err;
      });
  }

  granted() {
    this.holding = true;
    this.hooks.hold();
    return new Promise((resolve) => { this.done = resolve; });
  }

  lost() {
    if (!this.holding) return;
    this.holding = false;
    this.done = null;
    this.hooks.release();
  }

  release() {
    const done = this.done;
    this.lost();
    done?.();
  }

  async received(message) {
    if (message.type === "state" && message.tab !== this.id && !this.holding) this.hooks.remote(message);
    else if (message.type === "who" && this.holding && this.last) this.announce(this.last);
    else if (message.type === "yield" && this.holding) await this.yieldTo(message.tab);
    else if ((message.type === "yielded" || message.type === "busy") && this.waiters.has(message.to)) {
      this.waiters.get(message.to)(message.type);
    } else if (message.type === "command" && this.holding) this.hooks.command(message.action, message.arg);
  }

  async yieldTo(tab) {
    if (this.hooks.busy()) return this.post({ type: "busy", to: tab });
    this.holding = false; // no state from here on: the new holder speaks for the phone
    await this.hooks.release();
    this.post({ type: "yielded", to: tab });
    // Keep the lock until the asker steals it, so no third tab slips in between; if the asker
    // is gone before it does, hold the phone again.
    const done = this.done;
    setTimeout(() => {
      if (this.done === done && done && !this.holding) this.granted().then(done);
    }, ANSWER_WAIT_MS);
  }

  post(message) {
    try {
      this.channel?.postMessage(message);
    } catch (err) { /* closed while signing out */ }
  }
}
