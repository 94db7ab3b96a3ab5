// Access-number pools: the list, and one form to create or change a pool (its numbers picked
// from the DID map; the server checks them against it too). A refused field is marked with the
// server's message. Deleting asks for a second press of the same button, not a dialog.

import { el, row, status } from "/static/common/dom.js";
import { clearInvalid, markInvalid } from "/static/common/forms.js";
import { request } from "/static/common/http.js";

const $ = (id) => document.getElementById(id);
const BASE = "/api/admin/access";
const POLICY = { refuse: "refuse (503)", take_oldest: "take the oldest" };
const CONFIRM_MS = 4000;

/** Pools as last loaded, by name (the keys form offers them too). */
export const pools = new Map();
let routed = []; // [{did, group}] from the DID map
let editing = null; // the name of the pool in the form, or null for a new one

export async function loadPools() {
  const [list, map] = await Promise.all([request("GET", `${BASE}/pools`), request("GET", "/api/admin/dids")]);
  pools.clear();
  for (const pool of list.pools) pools.set(pool.name, pool);
  routed = map.groups.flatMap((g) => g.dids.map((did) => ({ did, group: g.group })));
  $("pool-rows").replaceChildren(...list.pools.map(poolRow));
  if (!list.pools.length) $("pool-rows").append(row("no pool yet", "", "", "", "", "", ""));
  $("pool-group").replaceChildren(
    el("option", { text: "(none)", attrs: { value: "" } }),
    ...map.groups.map((g) => el("option", { text: g.group, attrs: { value: g.group } })),
  );
  if (editing && !pools.has(editing)) editing = null;
  fillDids(editing ? pools.get(editing).numbers.map((n) => n.did) : selectedDids());
}

function poolRow(pool) {
  const actions = el("td", { class: "actions" },
    el("button", {
      class: "button small", text: "Edit",
      attrs: { type: "button", "aria-label": `Edit pool ${pool.name}` },
      on: { click: () => edit(pool.name) },
    }),
    el("button", {
      class: "button small danger", text: "Delete",
      attrs: { type: "button", "aria-label": `Delete pool ${pool.name}` },
      on: { click: (event) => remove(pool.name, event.currentTarget) },
    }));
  const numbers = pool.numbers.map((n) => n.e164).join(", ");
  return row(pool.name, pool.purpose, pool.group || "", numbers, `${pool.hold_seconds} s`,
    POLICY[pool.policy] || pool.policy, actions);
}

function selectedDids() {
  return [...$("pool-dids").querySelectorAll("input[type=checkbox]:checked")].map((box) => box.value);
}

/** One checkbox per DID of the DID map; a DID of another pool is shown but cannot be picked. */
function fillDids(checked) {
  const owner = new Map();
  for (const pool of pools.values()) for (const n of pool.numbers) owner.set(n.did, pool.name);
  const boxes = routed.map(({ did, group }) => {
    const other = owner.has(did) && owner.get(did) !== editing ? owner.get(did) : null;
    const box = el("input", {
      attrs: { type: "checkbox", name: "numbers", value: did, checked: checked.includes(did), disabled: other !== null },
    });
    const note = other ? ` — in pool ${other}` : "";
    return el("label", { class: "check" }, box, `${did} (${group})${note}`);
  });
  const empty = el("p", { class: "note", text: "No DID is mapped yet: map DIDs to groups in “DIDs & groups” first." });
  $("pool-did-list").replaceChildren(...(boxes.length ? boxes : [empty]));
}

function edit(name) {
  const pool = pools.get(name);
  const form = $("pool-form");
  editing = name;
  clearInvalid(form);
  form.elements.name.value = pool.name;
  form.elements.name.readOnly = true;
  form.elements.purpose.value = pool.purpose;
  form.elements.group.value = pool.group || "";
  form.elements.hold_seconds.value = String(pool.hold_seconds);
  form.elements.policy.value = pool.policy;
  fillDids(pool.numbers.map((n) => n.did));
  $("pool-form-title").textContent = `Change pool ${name}`;
  $("pool-cancel").hidden = false;
  form.elements.purpose.focus();
}

function resetForm() {
  const form = $("pool-form");
  editing = null;
  form.reset();
  form.elements.name.readOnly = false;
  clearInvalid(form);
  fillDids([]);
  $("pool-form-title").textContent = "New pool";
  $("pool-cancel").hidden = true;
}

/** The first press arms the button; a second press within a few seconds deletes. */
async function remove(name, button) {
  if (button.dataset.armed !== "yes") {
    button.dataset.armed = "yes";
    button.textContent = "Confirm delete";
    setTimeout(() => {
      button.dataset.armed = "";
      button.textContent = "Delete";
    }, CONFIRM_MS);
    return;
  }
  await request("DELETE", `${BASE}/pools/${encodeURIComponent(name)}`);
  if (editing === name) resetForm();
  status(`Pool ${name} deleted.`);
  await loadPools();
}

function body(form) {
  const data = new FormData(form);
  return {
    name: String(data.get("name") || ""),
    purpose: String(data.get("purpose") || ""),
    group: data.get("group") || null,
    hold_seconds: Number(data.get("hold_seconds")),
    policy: data.get("policy"),
    numbers: selectedDids(),
  };
}

/** Wire the pool form; `changed()` runs after every saved change (keys and status reload). */
export function wirePools(guarded, changed) {
  const form = $("pool-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const wanted = body(form);
      try {
        if (editing) await request("PUT", `${BASE}/pools/${encodeURIComponent(editing)}`, { body: wanted });
        else await request("POST", `${BASE}/pools`, { body: wanted });
      } catch (err) {
        markInvalid(form, err);
        throw err;
      }
      status(`Pool ${wanted.name} saved.`);
      resetForm();
      await loadPools();
      await changed();
    });
  });
  $("pool-cancel").addEventListener("click", resetForm);
}
