// API keys of companies' backends: the list (never a key, only its first characters), issuing
// one (the key is shown once, with a copy button, and gone from the page when dismissed or the
// tab is left) and revoking (a second press of the same button).

import { el, formatWhen, row, status } from "/static/common/dom.js";
import { clearInvalid, markInvalid } from "/static/common/forms.js";
import { request } from "/static/common/http.js";
import { pools } from "./access_pools.js";

const $ = (id) => document.getElementById(id);
const BASE = "/api/admin/access";
const CONFIRM_MS = 4000;

export async function loadKeys() {
  const data = await request("GET", `${BASE}/keys`);
  $("key-rows").replaceChildren(...data.keys.map(keyRow));
  if (!data.keys.length) $("key-rows").append(row("no key yet", "", "", "", "", "", ""));
  const boxes = [...pools.keys()].map((name) =>
    el("label", { class: "check" }, el("input", { attrs: { type: "checkbox", name: "pools", value: name } }), name));
  const empty = el("p", { class: "note", text: "Create a pool first: a key is scoped to pools." });
  $("key-pool-list").replaceChildren(...(boxes.length ? boxes : [empty]));
}

function keyRow(key) {
  const actions = el("td", { class: "actions" });
  if (key.active) {
    actions.append(el("button", {
      class: "button small danger", text: "Revoke",
      attrs: { type: "button", "aria-label": `Revoke key ${key.name} (${key.prefix}…)` },
      on: { click: (event) => revoke(key, event.currentTarget) },
    }));
  }
  const state = key.active ? el("span", { class: "state state-ok", text: "active" })
    : el("span", { class: "state state-unreachable", text: `revoked ${formatWhen(key.revoked_at)}` });
  return row(key.name, el("td", {}, el("code", { text: `${key.prefix}…` })), key.pools.join(", "),
    `${key.per_minute}/min`, el("td", {}, state), key.last_used_at ? formatWhen(key.last_used_at) : "never", actions);
}

async function revoke(key, button) {
  if (button.dataset.armed !== "yes") {
    button.dataset.armed = "yes";
    button.textContent = "Confirm revoke";
    setTimeout(() => {
      button.dataset.armed = "";
      button.textContent = "Revoke";
    }, CONFIRM_MS);
    return;
  }
  await request("DELETE", `${BASE}/keys/${encodeURIComponent(key.id)}`);
  status(`Key ${key.name} revoked: requests with it now get 401.`);
  await loadKeys();
}

/** Show the new key once; it leaves the page when dismissed. */
function reveal(issued) {
  const input = el("input", {
    class: "key-value",
    attrs: { id: "new-key", readonly: true, value: issued.key, "aria-label": "The new API key", spellcheck: "false" },
  });
  const copy = el("button", { class: "button", text: "Copy", attrs: { type: "button", id: "copy-key" } });
  const done = el("button", { class: "button primary", text: "I have stored it", attrs: { type: "button", id: "hide-key" } });
  copy.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      status("Key copied to the clipboard.");
    } catch (err) {
      status("Copy blocked by the browser: the key is selected, press Ctrl+C.", true);
    }
  });
  done.addEventListener("click", hideKey);
  $("key-reveal").replaceChildren(
    el("p", { class: "notice notice-warn", text: `The key of ${issued.name}, shown this once: store it in the backend's secrets now.` }),
    el("div", { class: "row" }, input, copy, done));
  $("key-reveal").hidden = false;
  input.focus();
  input.select();
}

/** Take the shown key off the page (also when the admin leaves the tab). */
export function hideKey() {
  $("key-reveal").replaceChildren();
  $("key-reveal").hidden = true;
}

export function wireKeys(guarded) {
  const form = $("key-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const data = new FormData(form);
      const wanted = {
        name: String(data.get("name") || ""),
        pools: data.getAll("pools").map(String),
        per_minute: Number(data.get("per_minute")),
      };
      let issued;
      try {
        issued = await request("POST", `${BASE}/keys`, { body: wanted });
      } catch (err) {
        markInvalid(form, err);
        throw err;
      }
      clearInvalid(form);
      form.reset();
      reveal(issued);
      await loadKeys();
    });
  });
}
