// The report page's filter form: what (dimension and keys), by what interval, over which local
// dates, in which time zone. Built with el(); the keys on offer are the ones the daemon says
// the signed-in user may see (GET /api/reports/options), so a supervisor picks among their
// groups only. The daemon checks every request again.

import { el } from "/static/common/dom.js";

const DIMS = [
  ["queue", "Queue"], ["group", "Group"], ["agent", "Agent"], ["did", "DID"], ["trunk", "Trunk"],
];
const PERIODS = [["15m", "15 minutes"], ["hour", "Hour"], ["day", "Day"], ["week", "Week"], ["month", "Month"]];
const ZONES = ["UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York",
  "America/Chicago", "America/Los_Angeles", "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney"];

const options = (pairs) => pairs.map(([value, text]) => el("option", { text, attrs: { value } }));

function field(label, control) {
  return el("label", {}, label, control);
}

/** Shift an ISO date by `days`. */
export function addDays(iso, days) {
  const moment = new Date(`${iso}T00:00:00Z`);
  moment.setUTCDate(moment.getUTCDate() + days);
  return moment.toISOString().slice(0, 10);
}

export class ReportFilters {
  /** `prefix` keeps the ids of two report forms apart; `onSubmit(params)` runs the report. */
  constructor(prefix, onSubmit) {
    this.prefix = prefix;
    this.keysByDim = {};
    this.dim = el("select", { attrs: { name: "dim", id: `${prefix}-dim` } }, ...options(DIMS));
    this.keys = el("select", { attrs: { name: "keys", id: `${prefix}-keys`, multiple: true, size: 4,
      "aria-describedby": `${prefix}-keys-note` } });
    this.by = el("select", { attrs: { name: "by", id: `${prefix}-by` } }, ...options(PERIODS));
    this.from = el("input", { attrs: { name: "from", id: `${prefix}-from`, type: "date", required: true } });
    this.to = el("input", { attrs: { name: "to", id: `${prefix}-to`, type: "date", required: true } });
    this.tz = el("input", { attrs: { name: "tz", id: `${prefix}-tz`, list: `${prefix}-zones`,
      maxlength: 64, spellcheck: "false", autocomplete: "off" } });
    const zones = el("datalist", { attrs: { id: `${prefix}-zones` } }, ...ZONES.map((z) => el("option", { attrs: { value: z } })));
    this.form = el("form", { class: "form-grid report-filters", attrs: { id: `${prefix}-form`, "aria-label": "Report filters" } },
      field("Report by", this.dim),
      el("label", {}, "Which (none picked: all)", this.keys,
        el("span", { class: "note", text: "Ctrl or Shift to pick several", attrs: { id: `${prefix}-keys-note` } })),
      field("Interval", this.by),
      field("From", this.from),
      field("To", this.to),
      field("Time zone", this.tz), zones,
      el("div", { class: "form-actions" },
        el("button", { class: "button primary", text: "Show report", attrs: { type: "submit" } })));
    this.by.value = "day";
    this.dim.addEventListener("change", () => this.fillKeys());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      onSubmit(this.params());
    });
  }

  /** Take what the daemon offers: {tz, today, keys: {dim: [names]}}. */
  offer(optionsBody) {
    this.keysByDim = optionsBody.keys;
    for (const option of this.dim.options) option.hidden = !(option.value in optionsBody.keys);
    if (!this.tz.value) this.tz.value = optionsBody.tz;
    if (!this.to.value) this.to.value = optionsBody.today;
    if (!this.from.value) this.from.value = addDays(optionsBody.today, -6);
    this.fillKeys();
  }

  fillKeys() {
    const names = this.keysByDim[this.dim.value] || [];
    this.keys.replaceChildren(...names.map((name) => el("option", { text: name, attrs: { value: name } })));
  }

  /** The query parameters of the form as it stands (the same for the JSON and the CSV). */
  params() {
    const picked = [...this.keys.selectedOptions].map((option) => option.value);
    const params = { dim: this.dim.value, by: this.by.value, from: this.from.value, to: this.to.value };
    if (this.tz.value.trim()) params.tz = this.tz.value.trim();
    if (picked.length) params.keys = picked.join(",");
    return params;
  }
}
