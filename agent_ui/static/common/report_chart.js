// The report's chart: one figure (picked beside it) per period, a bar series per key. Chart.js
// comes from npm through setup (/static/vendor/chart.js, git-ignored); the table under the chart
// holds the same numbers for keyboards and screen readers.

import { Chart, registerables } from "/static/vendor/chart.js";
import { el } from "/static/common/dom.js";

Chart.register(...registerables);

const PALETTE = ["--accent", "--ok", "--warn", "--wrap", "--danger", "--ink-faint"];
const token = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#64748b";

/** What to chart first for each dimension. */
const FIRST = { queue: "offered", group: "offered", agent: "calls", did: "offered", trunk: "offered" };

export class ReportChart {
  constructor(prefix) {
    this.metric = el("select", { attrs: { id: `${prefix}-metric` } });
    this.canvas = el("canvas", { attrs: { role: "img", id: `${prefix}-canvas`, "aria-label": "Report chart" } });
    this.node = el("div", { class: "report-chart" },
      el("label", { class: "field-inline" }, "Chart", this.metric),
      el("div", { class: "chart-box report-chart-box" }, this.canvas));
    this.report = null;
    this.chart = new Chart(this.canvas, {
      type: "bar",
      data: { labels: [], datasets: [] },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { y: { beginAtZero: true } },
        plugins: { legend: { position: "bottom" } },
      },
    });
    this.metric.addEventListener("change", () => this.draw());
  }

  /** Show `report` (the body of GET /api/reports). */
  show(report) {
    const keep = this.report && this.report.dim === report.dim ? this.metric.value : FIRST[report.dim];
    this.report = report;
    this.metric.replaceChildren(...report.columns.map((c) => el("option", { text: c, attrs: { value: c } })));
    this.metric.value = report.columns.includes(keep) ? keep : report.columns[0];
    this.draw();
  }

  draw() {
    const { rows } = this.report;
    const metric = this.metric.value;
    const labels = [...new Set(rows.map((r) => r.period))].sort();
    const keys = [...new Set(rows.map((r) => r.key))].sort();
    const cell = new Map(rows.map((r) => [`${r.period}\u0000${r.key}`, r[metric]]));
    this.chart.data.labels = labels;
    this.chart.data.datasets = keys.map((key, index) => ({
      label: key,
      data: labels.map((label) => cell.get(`${label}\u0000${key}`) ?? 0),
      backgroundColor: token(PALETTE[index % PALETTE.length]),
    }));
    this.canvas.setAttribute("aria-label", `${metric} by ${this.report.by}, one bar per ${this.report.dim}`);
    this.chart.update("none");
  }
}
