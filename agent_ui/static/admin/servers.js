// Servers (the AMI connections, their state and errors) and trunks (discovered on each server).

import { el, row } from "/static/common/dom.js";
import { request } from "/static/common/http.js";

const $ = (id) => document.getElementById(id);
const api = (method, path, body) => request(method, path, { body });
const stateCell = (state) => el("td", {}, el("span", { class: `state state-${state}`, text: state }));

const tlsCell = (s) => {
  if (!s.tls) return "no";
  if (s.tls_verify === false) return "yes, not verified";
  return s.tls_ca_file ? `yes, CA ${s.tls_ca_file}` : "yes";
};

export async function loadServers() {
  const data = await api("GET", "/api/admin/servers");
  $("server-rows").replaceChildren(...data.servers.map((s) => {
    const actions = el("td", { class: "actions" });
    if (s.editable) {
      actions.append(el("button", {
        class: "button small danger",
        text: "Remove",
        attrs: { type: "button", "aria-label": `Remove server ${s.name}` },
        on: { click: () => removeServer(s.name) },
      }));
    } else {
      actions.append(el("span", { class: "note", text: "config file (read-only)" }));
    }
    return row(s.name, s.origin, `${s.host}:${s.port}`, s.username, tlsCell(s),
      stateCell(s.state), s.last_error || "", s.events_per_second, s.resyncs, actions);
  }));
}

let guard = (work) => work();

async function removeServer(name) {
  await guard(async () => {
    if (!window.confirm(`Remove server ${name}?`)) return;
    await api("DELETE", `/api/admin/servers/${encodeURIComponent(name)}`);
    await loadServers();
  });
}

export async function loadTrunks() {
  const data = await api("GET", "/api/admin/trunks");
  const body = $("trunk-rows");
  body.replaceChildren(...data.trunks.map((t) => {
    const contacts = t.contacts.map((c) => `${c.uri} ${c.status}`).join(", ");
    const rtt = t.rtt_ms === null ? "" : `${t.rtt_ms.toFixed(1)} ms`;
    return row(t.server, t.name, stateCell(t.state), rtt, t.registration || "", t.calls, contacts);
  }));
  if (!data.trunks.length) body.append(row("", "no trunk known yet", "", "", "", "", ""));
}

export function wireServers(guarded) {
  guard = guarded;
  $("server-form").addEventListener("submit", (event) => guarded(async () => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = {
      name: form.get("name"), host: form.get("host"), port: Number(form.get("port")),
      username: form.get("username"), secret: form.get("secret"), tls: form.get("tls") === "on",
      tls_ca_file: form.get("tls_ca_file") || null, tls_verify: form.get("tls_verify") === "on",
    };
    if (!body.tls) Object.assign(body, { tls_ca_file: null, tls_verify: true });
    const existing = (await api("GET", "/api/admin/servers")).servers.some((s) => s.name === body.name);
    if (existing) await api("PUT", `/api/admin/servers/${encodeURIComponent(body.name)}`, body);
    else await api("POST", "/api/admin/servers", body);
    event.target.reset();
    await loadServers();
  }));
  $("discover").addEventListener("click", () => guarded(async () => {
    await api("POST", "/api/admin/trunks/discover");
    await loadTrunks();
  }));
}
