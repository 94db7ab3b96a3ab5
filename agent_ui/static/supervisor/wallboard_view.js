// The wallboard's drawing: per queue, callers waiting, longest wait and today's figures; agents
// in five columns by state with time in state and pause reason; the alerts in red. Everything
// from the daemon goes in with textContent (el()); times move on between frames by `elapsed`.

import { el, formatDuration as duration } from "/static/common/dom.js";

const STATES = [
  ["ringing", "Ringing"], ["on_call", "On a call"], ["wrapup", "Wrap-up"], ["paused", "Paused"],
  ["ready", "Ready"],
];
const ALERTS = {
  waiting: (a) => `${a.queue}: ${a.value} callers waiting (limit ${a.limit})`,
  wait: (a) => `${a.queue}: longest wait ${duration(a.value)} (limit ${duration(a.limit)})`,
  service_level: (a) => `${a.queue}: service level ${a.value}% (below ${a.limit}%)`,
  paused: (a) => `${a.value} agents paused (limit ${a.limit})`,
};

function figure(name, label, text, crossed = false) {
  return el("div", { attrs: { "data-figure": name } },
    el("dt", { text: label }),
    el("dd", { text, class: crossed ? "wb-crossed" : "" }));
}

/** The queues' cards; a waiting caller's wait grows by `elapsed` seconds since the frame. */
export function queueCards(board, elapsed) {
  const crossed = new Set(board.alerts.map((a) => `${a.kind}:${a.queue}`));
  return board.queues.map((q) => {
    const wait = q.waiting ? q.longest_wait_s + elapsed : 0;
    const level = q.service_level_pct === null ? "–" : `${q.service_level_pct}%`;
    const alerting = [...crossed].some((key) => key.endsWith(`:${q.queue}`));
    return el("article", { class: `wb-queue${alerting ? " wb-alerting" : ""}`, attrs: { "data-queue": q.queue } },
      el("h2", { text: q.queue }),
      el("dl", { class: "wb-figures" },
        figure("waiting", "waiting", String(q.waiting), crossed.has(`waiting:${q.queue}`)),
        figure("longest_wait", "longest wait", duration(wait), crossed.has(`wait:${q.queue}`)),
        figure("service_level", "service level today", level, crossed.has(`service_level:${q.queue}`)),
        figure("offered", "offered today", String(q.offered)),
        figure("answered", "answered today", String(q.answered)),
      ));
  });
}

/** Five columns of agents by state, each with the time in state (and the pause reason). */
export function agentColumns(board, elapsed) {
  return STATES.map(([state, title]) => {
    const agents = board.agents[state] || [];
    return el("section", { class: `wb-state wb-state-${state}`, attrs: { "data-state": state } },
      el("h2", {}, el("span", { text: title }), el("span", { class: "wb-count", text: String(agents.length) })),
      el("ul", {}, ...agents.map((a) => el("li", { attrs: { "data-agent": a.username } },
        el("span", { text: a.name }),
        a.reason && state === "paused" ? el("span", { class: "wb-reason", text: a.reason }) : null,
        el("span", { class: "wb-for", text: a.for_s === null ? "" : duration(a.for_s + elapsed) }),
      ))));
  });
}

export function alertItems(board) {
  return board.alerts.map((a) => el("p", {
    class: "wb-alert",
    attrs: { "data-kind": a.kind, "data-queue": a.queue },
    text: (ALERTS[a.kind] || ((x) => `${x.kind}: ${x.value}`))(a),
  }));
}

/** The thresholds form shows `thresholds`; empty fields mean no alert of that kind. */
export function fillThresholds(form, thresholds) {
  for (const [name, value] of Object.entries(thresholds)) {
    if (form.elements[name] && document.activeElement !== form.elements[name]) {
      form.elements[name].value = value === null ? "" : String(value);
    }
  }
}

export function readThresholds(form) {
  const body = {};
  for (const input of form.querySelectorAll("input")) {
    body[input.name] = input.value.trim() === "" ? null : Number(input.value);
  }
  return body;
}
