// DIDs and agent groups: which group each DID rings, and new groups with their own queue.

import { el, row } from "/static/common/dom.js";
import { request } from "/static/common/http.js";

const $ = (id) => document.getElementById(id);
const api = (method, path, body) => request(method, path, { body });

export async function loadDids() {
  const data = await api("GET", "/api/admin/dids");
  $("did-rows").replaceChildren(...data.groups.map((g) =>
    row(g.group, g.dids.join(", "), g.queues.join(", "), g.members)));
  $("did-group").replaceChildren(
    el("option", { text: "(unmap)", attrs: { value: "" } }),
    ...data.groups.map((g) => el("option", { text: g.group, attrs: { value: g.group } })),
  );
}

export function wireDids(guarded) {
  $("did-form").addEventListener("submit", (event) => guarded(async () => {
    event.preventDefault();
    const form = new FormData(event.target);
    await api("PUT", `/api/admin/dids/${encodeURIComponent(form.get("did"))}`,
      { group: form.get("group") || null });
    await loadDids();
  }));
  $("group-form").addEventListener("submit", (event) => guarded(async () => {
    event.preventDefault();
    const form = new FormData(event.target);
    const dids = String(form.get("dids") || "").split(/[;,\s]+/).filter(Boolean);
    await api("POST", "/api/admin/groups", { name: form.get("name"), dids });
    event.target.reset();
    await loadDids();
  }));
}
