// Access-number status, per pool: numbers free and reserved now, today's matched, expired and
// refused, and a utilisation chart of the last 24 hours (Chart.js, from npm, in /static/vendor).
// Polled while the tab is shown; each pool keeps its chart, which is updated in place.

import { Chart, registerables } from "/static/vendor/chart.js";
import { el } from "/static/common/dom.js";
import { request } from "/static/common/http.js";

Chart.register(...registerables);

const $ = (id) => document.getElementById(id);
const SERIES = [
  ["reserved", "Reserved", "--accent"],
  ["matched", "Matched", "--ok"],
  ["expired", "Expired", "--warn"],
  ["refused", "Refused (exhausted)", "--danger"],
];
const charts = new Map(); // pool name -> {card, chart}

const token = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#64748b";
const hourLabel = (iso) => `${String(new Date(iso).getHours()).padStart(2, "0")}:00`;

export async function loadStatus() {
  const data = await request("GET", "/api/admin/access/status");
  const seen = new Set();
  for (const pool of data.pools) {
    seen.add(pool.pool);
    show(pool);
  }
  for (const [name, entry] of charts) {
    if (seen.has(name)) continue;
    entry.chart.destroy();
    entry.card.remove();
    charts.delete(name);
  }
  $("access-status-empty").hidden = data.pools.length > 0;
}

function show(pool) {
  let entry = charts.get(pool.pool);
  if (!entry) {
    entry = build(pool.pool);
    charts.set(pool.pool, entry);
  }
  const used = pool.numbers ? Math.round((100 * pool.reserved) / pool.numbers) : 0;
  entry.counts.replaceChildren(
    count("numbers", pool.numbers), count("free", pool.free), count("reserved", pool.reserved),
    count("matched today", pool.matched_today), count("expired today", pool.expired_today),
    count("refused today", pool.refused_today));
  entry.meter.value = pool.reserved;
  entry.meter.max = Math.max(1, pool.numbers);
  entry.meterText.textContent = `${used}% in use now (${pool.reserved} of ${pool.numbers})`;
  const chart = entry.chart;
  chart.data.labels = pool.hours.map((h) => hourLabel(h.hour));
  SERIES.forEach(([key], index) => {
    chart.data.datasets[index].data = pool.hours.map((h) => h[key]);
  });
  chart.update("none");
  entry.summary.textContent = `Last 24 hours: ${sum(pool.hours, "reserved")} reserved, ` +
    `${sum(pool.hours, "matched")} matched, ${sum(pool.hours, "expired")} expired, ` +
    `${sum(pool.hours, "refused")} refused.`;
}

const sum = (hours, key) => hours.reduce((total, h) => total + h[key], 0);

function count(label, value) {
  return el("div", { class: "count", attrs: { "data-count": label } },
    el("span", { class: "count-value", text: value }), el("span", { class: "count-label", text: label }));
}

function build(name) {
  const canvas = el("canvas", { attrs: { role: "img", "aria-label": `Reservations per hour in pool ${name}` } });
  const entry = {
    counts: el("div", { class: "counts" }),
    meter: el("meter", { attrs: { min: 0, "aria-label": `Numbers of ${name} in use` } }),
    meterText: el("span", { class: "note" }),
    summary: el("p", { class: "note" }),
  };
  entry.card = el("article", { class: "pool-card", attrs: { "data-pool": name } },
    el("h3", { text: name }), entry.counts,
    el("div", { class: "row" }, entry.meter, entry.meterText),
    el("div", { class: "chart-box" }, canvas), entry.summary);
  $("access-status").append(entry.card);
  entry.chart = new Chart(canvas, {
    type: "bar",
    data: {
      labels: [],
      datasets: SERIES.map(([, label, color]) => ({ label, data: [], backgroundColor: token(color) })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: "bottom" } },
    },
  });
  return entry;
}
