// PBX admin console. An ES module, no build step; every value goes in with textContent.

import { request, setCsrf } from "/static/common/http.js";

const state = { csrf: null, tab: "servers", importId: null, columns: [] };
const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.append(cell instanceof Node ? cell : el("td", cell));
  return tr;
}

function say(message, isError) {
  const status = $("status");
  status.textContent = message || "";
  status.className = isError ? "error" : "";
}

const api = (method, path, body) => request(method, path, { body });

async function guarded(work) {
  try {
    say("");
    await work();
  } catch (err) {
    say(err.message, true);
  }
}

// ------------------------------------------------------------------ session
async function start() {
  try {
    const me = await api("GET", "/api/me");
    state.csrf = me.csrf;
    setCsrf(me.csrf);
    if (me.user.role !== "admin") {
      say(`${me.user.display_name} is not an admin: this console is for PBX admins only.`, true);
      $("logout").hidden = false;
      return;
    }
    $("who").textContent = `${me.user.display_name} (${me.user.username})`;
    $("logout").hidden = false;
    $("tabs").hidden = false;
    show(state.tab);
  } catch (err) {
    $("login").hidden = false;
  }
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  fetch("/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: form.get("username"), password: form.get("password") }),
  }).then((reply) => {
    if (!reply.ok) throw new Error("wrong username or password");
    $("login").hidden = true;
    return start();
  }).catch((err) => { $("login-error").textContent = err.message; });
});

$("logout").addEventListener("click", () => {
  api("POST", "/logout").finally(() => window.location.reload());
});

// ------------------------------------------------------------------ tabs
const loaders = {};
function show(tab) {
  state.tab = tab;
  for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== tab;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.classList.toggle("active", button.dataset.tab === tab);
  }
  if (loaders[tab]) guarded(loaders[tab]);
}
for (const button of document.querySelectorAll("#tabs button")) {
  button.addEventListener("click", () => show(button.dataset.tab));
}
setInterval(() => {
  if (["servers", "trunks"].includes(state.tab) && !document.hidden) guarded(loaders[state.tab]);
}, 3000);

// ------------------------------------------------------------------ servers
loaders.servers = async () => {
  const data = await api("GET", "/api/admin/servers");
  const body = $("server-rows");
  body.replaceChildren();
  for (const s of data.servers) {
    const stateCell = el("td", s.state, `state-${s.state}`);
    const actions = el("td");
    if (s.editable) {
      const remove = el("button", "Remove");
      remove.type = "button";
      remove.addEventListener("click", () => guarded(async () => {
        if (!window.confirm(`Remove server ${s.name}?`)) return;
        await api("DELETE", `/api/admin/servers/${encodeURIComponent(s.name)}`);
        await loaders.servers();
      }));
      actions.append(remove);
    } else {
      actions.textContent = "config file (read-only)";
    }
    body.append(row([s.name, s.origin, `${s.host}:${s.port}`, s.username, s.tls ? "yes" : "no",
      stateCell, s.last_error || "", s.events_per_second, s.resyncs, actions]));
  }
};

$("server-form").addEventListener("submit", (event) => guarded(async () => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = {
    name: form.get("name"), host: form.get("host"), port: Number(form.get("port")),
    username: form.get("username"), secret: form.get("secret"), tls: form.get("tls") === "on",
  };
  const existing = (await api("GET", "/api/admin/servers")).servers.some((s) => s.name === body.name);
  if (existing) await api("PUT", `/api/admin/servers/${encodeURIComponent(body.name)}`, body);
  else await api("POST", "/api/admin/servers", body);
  event.target.reset();
  await loaders.servers();
}));

// ------------------------------------------------------------------ trunks
loaders.trunks = async () => {
  const data = await api("GET", "/api/admin/trunks");
  const body = $("trunk-rows");
  body.replaceChildren();
  for (const t of data.trunks) {
    const contacts = t.contacts.map((c) => `${c.uri} ${c.status}`).join(", ");
    const rtt = t.rtt_ms === null ? "" : `${t.rtt_ms.toFixed(1)} ms`;
    body.append(row([t.server, t.name, el("td", t.state, `state-${t.state}`), rtt,
      t.registration || "", t.calls, contacts]));
  }
  if (!data.trunks.length) body.append(row(["", "no trunk known yet", "", "", "", "", ""]));
};
$("discover").addEventListener("click", () => guarded(async () => {
  await api("POST", "/api/admin/trunks/discover");
  await loaders.trunks();
}));

// ------------------------------------------------------------------ DIDs
loaders.dids = async () => {
  const data = await api("GET", "/api/admin/dids");
  const body = $("did-rows");
  const select = $("did-group");
  body.replaceChildren();
  select.replaceChildren(el("option", "(unmap)"));
  select.firstChild.value = "";
  for (const g of data.groups) {
    body.append(row([g.group, g.dids.join(", "), g.queues.join(", "), g.members]));
    const option = el("option", g.group);
    option.value = g.group;
    select.append(option);
  }
};
$("did-form").addEventListener("submit", (event) => guarded(async () => {
  event.preventDefault();
  const form = new FormData(event.target);
  await api("PUT", `/api/admin/dids/${encodeURIComponent(form.get("did"))}`,
    { group: form.get("group") || null });
  await loaders.dids();
}));
$("group-form").addEventListener("submit", (event) => guarded(async () => {
  event.preventDefault();
  const form = new FormData(event.target);
  const dids = String(form.get("dids") || "").split(/[;,\s]+/).filter(Boolean);
  await api("POST", "/api/admin/groups", { name: form.get("name"), dids });
  event.target.reset();
  await loaders.dids();
}));

// ------------------------------------------------------------------ agents: import
function upload(file) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const bar = $("upload-progress");
    bar.hidden = false;
    bar.value = 0;
    xhr.open("POST", `/api/admin/imports?filename=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("X-CTI-CSRF", state.csrf || "");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 90);
    });
    xhr.addEventListener("load", () => {
      bar.value = 100;
      let data = {};
      try { data = JSON.parse(xhr.responseText); } catch (err) { data = {}; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new Error(data.message || `HTTP ${xhr.status}`));
    });
    xhr.addEventListener("error", () => reject(new Error("the upload failed")));
    say(`Uploading and validating ${file.name}...`);
    xhr.send(file);
  });
}

$("upload-form").addEventListener("submit", (event) => guarded(async () => {
  event.preventDefault();
  const file = new FormData(event.target).get("file");
  showImport(await upload(file));
}));

const KEYS = ["action", "username", "first_name", "last_name", "email", "extension",
  "endpoint_secret", "groups", "role", "salesforce_user"];

function showImport(data) {
  state.importId = data.id;
  $("import").hidden = false;
  $("results").hidden = true;
  const c = data.counts;
  $("import-summary").textContent = `${data.file}: ${data.rows} rows validated in ${data.validate_ms} ms. ` +
    (data.ok ? `Ready: ${c.create} to create, ${c.update} to update, ${c.delete} to delete, ${c.ignore} ignored.`
      : `${data.errors.length} errors; nothing was changed.`);
  const list = $("error-list");
  list.replaceChildren();
  const bad = new Set();
  for (const e of data.errors) {
    list.append(el("li", `row ${e.row}, ${e.title}: ${e.reason}`));
    bad.add(`${e.row}:${e.column}`);
  }
  $("errors-title").hidden = data.ok;
  const head = $("cell-head");
  head.replaceChildren(row(["row", ...KEYS].map((k) => el("th", k))));
  const body = $("cell-rows");
  body.replaceChildren();
  if (!data.ok) {
    for (const r of data.cells) {
      const tr = row([String(r.row)]);
      tr.dataset.row = r.row;
      for (const key of KEYS) {
        const td = el("td");
        const input = document.createElement("input");
        input.value = r.cells[key] || "";
        input.dataset.key = key;
        if (bad.has(`${r.row}:${key}`)) td.className = "bad";
        td.append(input);
        tr.append(td);
      }
      body.append(tr);
    }
  }
  $("cells").hidden = data.ok;
  $("revalidate").hidden = data.ok;
  const changes = $("change-rows");
  changes.replaceChildren();
  for (const ch of data.changes) {
    const what = Object.entries(ch.diff).map(([k, v]) => `${k}: ${v[0]} -> ${v[1]}`).join("; ");
    changes.append(row([ch.row, el("td", ch.kind, `${ch.kind}d`), ch.username, ch.extension || "", what]));
  }
  $("apply-import").disabled = !data.ok;
}

$("revalidate").addEventListener("click", () => guarded(async () => {
  const rows = [];
  for (const tr of $("cell-rows").children) {
    const cells = {};
    for (const input of tr.querySelectorAll("input")) cells[input.dataset.key] = input.value;
    rows.push({ row: Number(tr.dataset.row), cells });
  }
  showImport(await api("POST", `/api/admin/imports/${state.importId}/rows`, { rows }));
}));

$("apply-import").addEventListener("click", () => guarded(async () => {
  let data = await api("POST", `/api/admin/imports/${state.importId}/apply`);
  if (!data.ok) { showImport(data); return; }
  state.importId = data.id;
  const bar = $("apply-progress");
  bar.hidden = false;
  const total = Math.max(1, data.counts.create + data.counts.update + data.counts.delete + data.counts.ignore);
  while (data.state === "applying") {
    bar.value = Math.round((data.done / total) * 100);
    await new Promise((r) => setTimeout(r, 500));
    data = await api("GET", `/api/admin/imports/${state.importId}`);
  }
  bar.value = 100;
  if (data.state !== "applied") throw new Error(data.error || "the import failed");
  showResults(data);
}));

function showResults(data) {
  $("import").hidden = true;
  $("results").hidden = false;
  const c = data.result.counts;
  $("result-counts").textContent =
    `Created ${c.create}, updated ${c.update}, deleted ${c.delete}, ignored ${c.ignore}.`;
  const body = $("secret-rows");
  body.replaceChildren();
  for (const [user, secret] of Object.entries(data.result.secrets || {})) body.append(row([user, secret]));
}

// ------------------------------------------------------------------ config
loaders.config = async () => {
  const data = await api("GET", "/api/admin/config");
  $("config-where").textContent = data.config_dir
    ? `Files go to ${data.config_dir}; ${data.can_reload ? "Asterisk is reloaded through the admin AMI user." : "no admin AMI user: reload Asterisk yourself."}`
    : "No config_dir set: the files can be reviewed here but not written.";
  const box = $("config-diffs");
  box.replaceChildren();
  const names = Object.keys(data.diffs);
  if (!names.length) box.append(el("p", "The files on the PBX are up to date."));
  for (const name of names) {
    box.append(el("h3", name));
    box.append(el("pre", data.diffs[name], "diff"));
  }
  $("apply-config").disabled = !data.can_write || !names.length;
};
$("apply-config").addEventListener("click", () => guarded(async () => {
  const result = await api("POST", "/api/admin/config/apply", { reload: true });
  $("config-result").textContent = `Wrote ${result.changed.join(", ") || "nothing"}. ` +
    (result.reload_error ? `Reload failed: ${result.reload_error}` : result.reloaded.join("; "));
  await loaders.config();
}));

// ------------------------------------------------------------------ audit
loaders.audit = async () => {
  const data = await api("GET", "/api/admin/audit?limit=200");
  const body = $("audit-rows");
  body.replaceChildren();
  for (const e of data.events) {
    body.append(row([new Date(e.at).toLocaleString(), e.actor || "(daemon)", e.kind, JSON.stringify(e.details)]));
  }
};

start();
