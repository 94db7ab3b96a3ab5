// The cluster beside the servers: each node, its last heartbeat, the AMI sessions it owns,
// and the owner of each server (GET /api/admin/cluster; hidden in a single process).

import { el, row } from "/static/common/dom.js";
import { request } from "/static/common/http.js";

const $ = (id) => document.getElementById(id);

export async function loadCluster() {
  const data = await request("GET", "/api/admin/cluster");
  const panel = $("cluster-panel");
  panel.hidden = !data.enabled;
  if (!data.enabled) return;
  $("cluster-summary").textContent =
    `This page is served by node ${data.node}; broker: ${data.broker}.`;
  const nodes = Object.entries(data.nodes || {});
  $("cluster-node-rows").replaceChildren(...nodes.map(([name, beat]) => {
    const fresh = beat.seen_s_ago < 10;
    const health = el("span", { class: `state state-${fresh ? "ok" : "unreachable"}`,
      text: fresh ? "alive" : "silent" });
    return row(name + (name === data.node ? " (this node)" : ""), el("td", {}, health),
      `${beat.seen_s_ago} s ago`, (beat.owns || []).join(", ") || "nothing");
  }));
  const owners = Object.entries(data.owners || {});
  $("cluster-owner-rows").replaceChildren(...owners.map(([server, owner]) =>
    row(server, owner || "nobody (taking over)")));
}
