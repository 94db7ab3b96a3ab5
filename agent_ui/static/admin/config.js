// The Asterisk configuration the daemon would write (diffs, then write and reload) and the
// audit log of every admin change.

import { el, formatWhen, row } from "/static/common/dom.js";
import { request } from "/static/common/http.js";

const $ = (id) => document.getElementById(id);
const api = (method, path, body) => request(method, path, { body });

export async function loadConfig() {
  const data = await api("GET", "/api/admin/config");
  $("config-where").textContent = data.config_dir
    ? `Files go to ${data.config_dir}; ${data.can_reload ? "Asterisk is reloaded through the admin AMI user." : "no admin AMI user: reload Asterisk yourself."}`
    : "No config_dir set: the files can be reviewed here but not written.";
  const names = Object.keys(data.diffs);
  const box = $("config-diffs");
  box.replaceChildren(...names.flatMap((name) => [el("h3", { text: name }), el("pre", { class: "diff", text: data.diffs[name] })]));
  if (!names.length) box.append(el("p", { class: "note", text: "The files on the PBX are up to date." }));
  $("apply-config").disabled = !data.can_write || !names.length;
}

export async function loadAudit() {
  const data = await api("GET", "/api/admin/audit?limit=200");
  $("audit-rows").replaceChildren(...data.events.map((e) =>
    row(formatWhen(e.at), e.actor || "(daemon)", e.kind, JSON.stringify(e.details))));
}

export function wireConfig(guarded) {
  $("apply-config").addEventListener("click", () => guarded(async () => {
    const result = await api("POST", "/api/admin/config/apply", { reload: true });
    $("config-result").textContent = `Wrote ${result.changed.join(", ") || "nothing"}. ` +
      (result.reload_error ? `Reload failed: ${result.reload_error}` : result.reloaded.join("; "));
    await loadConfig();
  }));
}
