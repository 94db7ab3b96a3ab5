// The pop template editor: configuration variables (a field picker, no template code needed),
// the template source with line numbers, a live preview rendered by the daemon (the production
// renderer) shown in a sandboxed iframe, versions with diff, publish and roll back.

import { clear, el, formatWhen as when } from "/static/common/dom.js";
import { ApiError, request as api } from "/static/common/http.js";

const $ = (id) => document.getElementById(id);
const PREVIEW_DELAY_MS = 350;
const LABELS = {
  contact: "Contact", account: "Account", cases: "Open cases", history: "Past calls",
  none: "No match", one: "One match", several: "Several matches",
  create_contact: "caller id + create contact", caller_only: "caller id only",
  full: "full record", compact: "compact (no cases or calls)",
  picker: "pick the record", expanded: "every record in full",
};

export class Editor {
  constructor(app) {
    this.app = app;
    this.meta = null; // GET /api/supervisor/templates
    this.timer = null;
    this.previewSeq = 0;
    this.source = $("source");
    this.gutter = $("gutter");
    this.source.addEventListener("input", () => { this.numberLines(); this.schedulePreview(); });
    this.source.addEventListener("scroll", () => { this.gutter.scrollTop = this.source.scrollTop; });
    this.source.addEventListener("keydown", (event) => this.tab(event));
    $("use-standard").addEventListener("change", () => this.useStandard($("use-standard").checked));
    $("customise").addEventListener("click", () => this.customise());
    $("save").addEventListener("click", () => this.save());
    $("sample").addEventListener("change", () => { $("number").value = ""; this.preview(); });
    $("lookup").addEventListener("click", () => this.preview());
    for (const id of ["history-limit", "case-statuses", "dispositions", "wrapup"]) {
      $(id).addEventListener("input", () => this.schedulePreview());
    }
    for (const radio of document.querySelectorAll("input[name=trigger]")) {
      radio.addEventListener("change", () => this.schedulePreview());
    }
  }

  async load(group) {
    this.meta = await api("GET", "/api/supervisor/templates", { query: { group } });
    this.buildPickers(this.meta.catalogue);
    const live = this.meta.live;
    if (live) {
      const version = await api("GET", `/api/supervisor/versions/${live}`, { query: { group } });
      this.fill(version.source, version.settings);
    } else {
      this.fill(null, this.meta.defaults);
    }
    this.versions();
    this.preview();
  }

  // ------------------------------------------------------------------ the settings form
  buildPickers(catalogue) {
    const fields = $("fields");
    for (const node of [...fields.querySelectorAll(".object")]) node.remove();
    for (const [object, names] of Object.entries(catalogue.fields)) {
      const box = el("div", { class: "object" }, el("strong", { text: LABELS[object] || object }));
      for (const name of names) {
        const input = el("input", { attrs: { type: "checkbox", "data-object": object, "data-field": name } });
        input.addEventListener("change", () => this.schedulePreview());
        box.append(el("label", {}, input, ` ${name.replace("_", " ")}`));
      }
      fields.append(box);
    }
    const layouts = $("layouts");
    for (const node of [...layouts.querySelectorAll("label")]) node.remove();
    for (const [kind, options] of Object.entries(catalogue.layouts)) {
      const select = el("select", { attrs: { "data-layout": kind } });
      for (const option of options) select.append(el("option", { text: LABELS[option] || option, attrs: { value: option } }));
      select.addEventListener("change", () => this.schedulePreview());
      layouts.append(el("label", {}, `${LABELS[kind] || kind}`, select));
    }
  }

  fill(source, settings) {
    for (const radio of document.querySelectorAll("input[name=trigger]")) radio.checked = radio.value === settings.trigger;
    for (const box of document.querySelectorAll("#fields input[type=checkbox]")) {
      box.checked = (settings.fields[box.dataset.object] || []).includes(box.dataset.field);
    }
    for (const select of document.querySelectorAll("#layouts select")) select.value = settings.layout[select.dataset.layout];
    $("history-limit").value = settings.history_limit;
    $("case-statuses").value = settings.case_statuses.join(", ");
    $("dispositions").value = settings.dispositions.join("\n");
    $("wrapup").value = settings.wrapup_seconds;
    $("use-standard").checked = source === null;
    this.source.value = source === null ? this.meta.standard_template : source;
    this.source.disabled = source === null;
    this.numberLines();
  }

  settings() {
    const fields = {};
    for (const box of document.querySelectorAll("#fields input[type=checkbox]")) {
      fields[box.dataset.object] = fields[box.dataset.object] || [];
      if (box.checked) fields[box.dataset.object].push(box.dataset.field);
    }
    const layout = {};
    for (const select of document.querySelectorAll("#layouts select")) layout[select.dataset.layout] = select.value;
    const trigger = document.querySelector("input[name=trigger]:checked");
    const lines = (text) => text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
    return {
      trigger: trigger ? trigger.value : "ringing",
      fields,
      layout,
      history_limit: Number.parseInt($("history-limit").value || "0", 10),
      case_statuses: lines($("case-statuses").value),
      dispositions: $("dispositions").value.split("\n").map((s) => s.trim()).filter(Boolean),
      wrapup_seconds: Number.parseInt($("wrapup").value || "0", 10),
    };
  }

  draft() {
    return { source: $("use-standard").checked ? null : this.source.value, settings: this.settings() };
  }

  useStandard(on) {
    this.source.disabled = on;
    if (on) this.source.value = this.meta.standard_template;
    this.numberLines();
    this.schedulePreview();
  }

  customise() {
    $("use-standard").checked = false;
    this.source.disabled = false;
    if (!this.source.value) this.source.value = this.meta.standard_template;
    this.source.focus();
    this.numberLines();
    this.schedulePreview();
  }

  tab(event) {
    if (event.key !== "Tab" || event.shiftKey) return;
    event.preventDefault();
    const { selectionStart: start, selectionEnd: end, value } = this.source;
    this.source.value = `${value.slice(0, start)}  ${value.slice(end)}`;
    this.source.selectionStart = this.source.selectionEnd = start + 2;
    this.numberLines();
  }

  // ------------------------------------------------------------------ line numbers, problems
  numberLines(bad = []) {
    clear(this.gutter);
    const count = this.source.value.split("\n").length;
    for (let line = 1; line <= count; line += 1) {
      this.gutter.append(el("span", { text: line, class: bad.includes(line) ? "bad" : "", attrs: { "data-line": line } }));
    }
    this.gutter.scrollTop = this.source.scrollTop;
  }

  showProblems(problems) {
    const list = $("problems");
    clear(list);
    const lines = [];
    for (const problem of problems || []) {
      if (problem.line) lines.push(problem.line);
      const where = problem.sample ? ` (sample call: ${problem.sample})` : "";
      list.append(el("li", { text: `${problem.error}${where}`, attrs: { "data-line": problem.line || "" } }));
    }
    this.numberLines(lines);
  }

  // ------------------------------------------------------------------ preview
  schedulePreview() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.preview(), PREVIEW_DELAY_MS);
  }

  async preview() {
    const seq = ++this.previewSeq;
    const number = $("number").value.trim();
    const body = { ...this.draft(), sample: $("sample").value };
    if (number) body.number = number;
    let result;
    try {
      result = await api("POST", "/api/supervisor/preview", { query: { group: this.app.group }, body });
    } catch (err) {
      if (seq !== this.previewSeq) return;
      $("preview-note").textContent = err.message;
      if (err instanceof ApiError && err.details && err.details.field) this.showProblems([]);
      return;
    }
    if (seq !== this.previewSeq) return; // a newer preview is on its way
    const note = result.number ? `Caller ${result.number}: ${result.match_count} match` : `Sample: ${result.sample} match`;
    if (result.error) {
      $("preview-note").textContent = `${note}. The template fails; a pop would use the default template.`;
      this.showProblems([result.error]);
      this.show("");
      return;
    }
    $("preview-note").textContent = note;
    this.showProblems([]);
    this.show(result.html);
  }

  show(html) {
    // Server-rendered, escaped HTML in a sandboxed frame: no scripts, an opaque origin. Styled
    // as the agent desktop shows it: the same tokens and pop style, inside a .card-body.
    const doc = "<!doctype html><html><head><meta charset=\"utf-8\">"
      + "<link rel=\"stylesheet\" href=\"/static/common/tokens.css\">"
      + "<link rel=\"stylesheet\" href=\"/static/common/pop.css\"></head>"
      + "<body class=\"preview-body\"><div class=\"card-body\">" + html + "</div></body></html>";
    $("preview").srcdoc = doc;
  }

  // ------------------------------------------------------------------ versions
  async save() {
    const body = { ...this.draft(), note: $("note").value };
    try {
      const saved = await api("POST", "/api/supervisor/versions", { query: { group: this.app.group }, body });
      $("note").value = "";
      this.showProblems(saved.problems);
      this.app.status(saved.problems.length
        ? `Saved version ${saved.number}; it cannot be published until the problems are fixed.`
        : `Saved version ${saved.number}.`);
      await this.versions();
    } catch (err) {
      this.app.status(err.message, true);
    }
  }

  async versions() {
    const group = this.app.group;
    this.meta = await api("GET", "/api/supervisor/templates", { query: { group } });
    const body = $("versions");
    clear(body);
    const list = this.meta.versions;
    list.forEach((version, index) => {
      const previous = list[index + 1];
      const actions = el("td", { class: "actions" });
      const button = (label, handler, cls = "") => {
        const b = el("button", { text: label, class: `button small ${cls}`, attrs: { type: "button", "data-version": version.number } });
        b.addEventListener("click", handler);
        actions.append(b, document.createTextNode(" "));
      };
      button("Load", () => this.loadVersion(version.number));
      if (previous) button("Diff", () => this.diff(previous.number, version.number));
      if (!version.live) button("Publish", () => this.publish(version.number), "publish");
      if (!version.live && this.meta.live && version.number < this.meta.live) {
        button("Roll back", () => this.rollback(version.number), "rollback");
      }
      body.append(el("tr", { attrs: { "data-version": version.number } },
        el("td", {}, `${version.number} `, version.live ? el("span", { class: "badge", text: "live" }) : null),
        el("td", { text: version.author }),
        el("td", { text: when(version.created_at) }),
        el("td", { class: "note", text: version.note + (version.standard ? " (standard template)" : "") }),
        el("td", { text: version.published_at ? when(version.published_at) : "" }),
        actions,
      ));
    });
    if (!list.length) body.append(el("tr", {}, el("td", { text: "No versions yet: the group pops with the product's default template.", attrs: { colspan: 6 } })));
  }

  async loadVersion(number) {
    const version = await api("GET", `/api/supervisor/versions/${number}`, { query: { group: this.app.group } });
    this.fill(version.source, version.settings);
    this.app.status(`Loaded version ${number} into the editor.`);
    this.preview();
  }

  async diff(from, to) {
    const result = await api("GET", "/api/supervisor/diff", { query: { group: this.app.group, from, to } });
    const pre = $("diff");
    clear(pre);
    for (const line of result.diff.split("\n")) {
      const cls = line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
      pre.append(el("span", { class: cls, text: line }), document.createTextNode(cls ? "" : "\n"));
    }
    pre.hidden = false;
  }

  async publish(number) {
    try {
      await api("POST", `/api/supervisor/versions/${number}/publish`, { query: { group: this.app.group } });
      this.showProblems([]);
      this.app.status(`Version ${number} is live: the next pops of ${this.app.group} use it.`);
    } catch (err) {
      if (err instanceof ApiError && err.details.problems) this.showProblems(err.details.problems);
      this.app.status(err.message, true);
    }
    await this.versions();
  }

  async rollback(number) {
    try {
      const copy = await api("POST", `/api/supervisor/versions/${number}/rollback`, { query: { group: this.app.group } });
      this.app.status(`Rolled back: version ${copy.number} (a copy of ${number}) is live.`);
      await this.versions();
      await this.loadVersion(copy.number);
    } catch (err) {
      this.app.status(err.message, true);
    }
  }
}
