// A report page, as the supervisor console (their groups) and the admin console (everything)
// show it: filters, a chart, the totals and the figures per period in tables, and a CSV link of
// exactly what is shown (the same query). Every value goes in with textContent.

import { el, row } from "/static/common/dom.js";
import { explain, request, withQuery } from "/static/common/http.js";
import { ReportChart } from "/static/common/report_chart.js";
import { ReportFilters } from "/static/common/report_filters.js";

const LABELS = {
  offered: "offered", answered: "answered", abandoned: "abandoned", abandoned_short: "short abandons",
  timed_out: "timed out", asa_s: "ASA (s)", service_level_pct: "service level %", aht_s: "AHT (s)",
  talk_s: "talk (s)", longest_wait_s: "longest wait (s)", transfers: "transfers",
  ring_no_answer: "rang, no answer", calls: "calls", queue_calls: "queue calls", outbound: "outbound",
  logged_in_s: "logged in (s)", paused_s: "paused (s)", occupancy_pct: "occupancy %",
};
const label = (column) => LABELS[column] || column.replace(/^pause:/, "paused: ");
const cell = (value) => (value === null || value === undefined ? "–" : String(value));

function table(caption, first, report, rows, withPeriod) {
  const head = el("tr", {}, ...(withPeriod ? [el("th", { text: "period", attrs: { scope: "col" } })] : []),
    el("th", { text: first, attrs: { scope: "col" } }),
    ...report.columns.map((c) => el("th", { text: label(c), attrs: { scope: "col", "data-column": c } })));
  const body = rows.map((r) => row(...(withPeriod ? [r.period] : []), r.key, ...report.columns.map((c) => cell(r[c]))));
  return el("div", { class: "scroll" }, el("table", { class: "table report-table" },
    el("caption", { text: caption }), el("thead", {}, head), el("tbody", {}, ...body)));
}

export class ReportView {
  /** Mount into `root` (an empty element); `prefix` keeps ids unique on the page. */
  constructor(root, prefix) {
    this.root = root;
    this.filters = new ReportFilters(prefix, (params) => this.run(params));
    this.chart = new ReportChart(prefix);
    this.message = el("p", { class: "report-message", attrs: { role: "status", id: `${prefix}-message` } });
    this.csv = el("a", { class: "button", text: "Export CSV", attrs: { id: `${prefix}-csv`, download: "" } });
    this.summary = el("p", { class: "note", attrs: { id: `${prefix}-summary` } });
    this.totals = el("div", { attrs: { id: `${prefix}-totals` } });
    this.periods = el("div", { attrs: { id: `${prefix}-periods` } });
    this.results = el("div", { class: "stack", hidden: true },
      el("div", { class: "row" }, this.summary, this.csv), this.chart.node, this.totals, this.periods);
    root.append(el("div", { class: "panel" }, el("h2", { text: "Reports" }), this.filters.form, this.message),
      this.results);
    this.loaded = false;
  }

  /** Fetch what the user may pick (once) and show the default report. */
  async load() {
    if (this.loaded) return;
    this.filters.offer(await request("GET", "/api/reports/options"));
    this.loaded = true;
    await this.run(this.filters.params());
  }

  async run(params) {
    this.message.textContent = "Loading…";
    this.message.className = "report-message";
    let report;
    try {
      report = await request("GET", "/api/reports", { query: params });
    } catch (err) {
      this.message.textContent = explain(err);
      this.message.className = "report-message error";
      return;
    }
    this.message.textContent = "";
    this.show(report, params);
  }

  show(report, params) {
    this.results.hidden = false;
    this.csv.href = withQuery("/api/reports.csv", params);
    const keys = report.totals.length;
    this.summary.textContent = `${report.dim} by ${report.by}, ${report.from} to ${report.to} (${report.tz}): ` +
      (keys ? `${keys} ${report.dim}${keys === 1 ? "" : "s"} with figures` : "no figures in this range");
    this.chart.show(report);
    this.totals.replaceChildren(table("Totals", report.dim, report, report.totals, false));
    this.periods.replaceChildren(table(`By ${report.by}`, report.dim, report, report.rows, true));
  }
}
