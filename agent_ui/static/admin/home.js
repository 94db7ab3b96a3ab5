// The admin console's home tab (the landing page): a status bar with one light per subsystem
// (each AMI link, CRM connector, the outbox, the store, the recording folder, and the cluster's
// broker when there is one), counts that open their tab, a call summary for a period, an
// activity chart of the last week and the latest audit entries. From GET /api/admin/dashboard,
// GET /api/reports and /healthz; every value goes in with textContent.

import { Chart, registerables } from "/static/vendor/chart.js";
import { el, formatDuration, formatWhen } from "/static/common/dom.js";
import { request } from "/static/common/http.js";
import { addDays } from "/static/common/report_filters.js";

Chart.register(...registerables);

const $ = (id) => document.getElementById(id);
const COUNTS = [
  ["users", "Users", "agents"], ["locations", "Locations", "site"], ["devices", "Devices", "site"],
  ["groups", "Groups", "dids"], ["numbers", "DIDs", "dids"], ["pools", "Access-number pools", "access"],
];
const KINDS = { ami: "Asterisk", crm: "CRM", outbox: "Record outbox", store: "Store", recording: "Recordings", cluster: "Cluster" };
const PERIODS = { today: [0, 0], yesterday: [1, 1], week: [6, 0], month: [29, 0] };
const token = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** The cluster's light from /healthz (which answers 503 with a body when degraded). */
async function clusterLight() {
  try {
    const body = await (await fetch("/healthz", { cache: "no-store" })).json();
    if (!body.cluster) return null;
    const up = body.cluster.broker === "ok";
    return { kind: "cluster", name: "broker", colour: up ? "green" : "red", reason: up ? "broker reachable" : `broker ${body.cluster.broker}` };
  } catch (err) {
    return null;
  }
}

/** Sum a queue report's totals into one call summary. */
function summary(report) {
  const sum = (key) => report.totals.reduce((total, row) => total + (row[key] || 0), 0);
  const answered = sum("answered");
  const waited = report.totals.reduce((total, row) => total + (row.asa_s || 0) * (row.answered || 0), 0);
  const longest = Math.max(0, ...report.totals.map((row) => row.longest_wait_s || 0));
  return { offered: sum("offered"), answered, abandoned: sum("abandoned") + sum("abandoned_short"),
    asa_s: answered ? Math.round((10 * waited) / answered) / 10 : null, longest_wait_s: longest || null };
}

export class HomePanel {
  constructor(show) {
    this.show = show;
    this.period = $("home-period");
    this.period.addEventListener("change", () => this.loadSummary().catch(() => {}));
    this.chart = null;
  }

  async load() {
    const [body, cluster] = await Promise.all([request("GET", "/api/admin/dashboard"), clusterLight()]);
    this.lights(cluster ? [...body.status, cluster] : body.status);
    this.counts(body.counts);
    this.activity(body.activity);
    this.today = body.today;
    await Promise.all([this.loadSummary(), this.loadWeek()]);
  }

  lights(status) {
    $("home-status").replaceChildren(...status.map((light) => {
      const single = ["outbox", "store", "recording"].includes(light.kind); // one of its kind
      const label = single ? KINDS[light.kind] : `${KINDS[light.kind] || light.kind} ${light.name}`;
      return el("li", { class: `light light-${light.colour}`, attrs: { tabindex: 0, title: light.reason,
        "data-kind": light.kind, "data-name": light.name, "data-colour": light.colour,
        "aria-label": `${label}: ${light.colour}, ${light.reason}` } },
      el("span", { class: "light-dot", attrs: { "aria-hidden": "true" } }), label);
    }));
  }

  counts(counts) {
    $("home-counts").replaceChildren(...COUNTS.map(([key, label, tab]) => el("button", {
      class: "count count-link", attrs: { type: "button", "data-count": key, "aria-label": `${label}: ${counts[key] ?? 0}, open ${tab}` },
      on: { click: () => this.show(tab) } },
    el("span", { class: "count-value", text: counts[key] ?? "–" }), el("span", { class: "count-label", text: label }))));
  }

  activity(entries) {
    $("home-activity").replaceChildren(...(entries.length ? entries.map((e) => el("li", {},
      el("time", { text: formatWhen(e.at), attrs: { datetime: e.at } }), " ",
      el("strong", { text: e.actor || "daemon" }), " ", e.kind)) : [el("li", { class: "note", text: "Nothing yet." })]));
  }

  async loadSummary() {
    const [back, end] = PERIODS[this.period.value];
    const today = this.today.day;
    const report = await request("GET", "/api/reports", { query: { dim: "queue", by: "day",
      from: addDays(today, -back), to: addDays(today, -end) } });
    const dids = await request("GET", "/api/reports", { query: { dim: "did", by: "day",
      from: addDays(today, -back), to: addDays(today, -end) } });
    const figures = { inbound: dids.totals.reduce((t, r) => t + r.offered, 0), ...summary(report) };
    const shown = [["inbound", "Inbound calls"], ["offered", "Queue calls"], ["answered", "Answered"],
      ["abandoned", "Abandoned"], ["asa_s", "Average answer"], ["longest_wait_s", "Longest wait"]];
    $("home-calls").replaceChildren(...shown.map(([key, label]) => el("div", { class: "count", attrs: { "data-count": key } },
      el("span", { class: "count-value", text: figures[key] === null ? "–" : key.endsWith("_s") ? formatDuration(figures[key]) : figures[key] }),
      el("span", { class: "count-label", text: label }))));
  }

  async loadWeek() {
    const today = this.today.day;
    const report = await request("GET", "/api/reports", { query: { dim: "queue", by: "day", from: addDays(today, -6), to: today } });
    const days = [...Array(7).keys()].map((i) => addDays(today, i - 6));
    const per = (key) => days.map((day) => report.rows.filter((r) => r.period === day)
      .reduce((t, r) => t + (key === "abandoned" ? r.abandoned + r.abandoned_short : r[key]), 0));
    const data = { labels: days, datasets: [
      { label: "Answered", data: per("answered"), backgroundColor: token("--ok") },
      { label: "Abandoned", data: per("abandoned"), backgroundColor: token("--danger") },
    ] };
    $("home-chart").setAttribute("aria-label", `Queue calls per day, last 7 days: answered ${data.datasets[0].data.join(", ")}; abandoned ${data.datasets[1].data.join(", ")}`);
    if (this.chart) {
      this.chart.data = data;
      this.chart.update("none");
      return;
    }
    this.chart = new Chart($("home-chart"), { type: "bar", data, options: { responsive: true, maintainAspectRatio: false,
      animation: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: "bottom" } } } });
  }
}
