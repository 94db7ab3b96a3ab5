// The DOM helpers every console uses. Every piece of data goes into the page through
// textContent or an attribute value (el() below); nothing here parses markup.

/**
 * Create an element. `props`: class, text, attrs (object), on (object of listeners), hidden.
 * Children are nodes or strings (strings become text nodes).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.text !== undefined && props.text !== null) node.textContent = String(props.text);
  if (props.hidden) node.hidden = true;
  for (const [name, value] of Object.entries(props.attrs || {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
  }
  for (const [event, listener] of Object.entries(props.on || {})) node.addEventListener(event, listener);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
}

const pad = (n) => String(n).padStart(2, "0");

/** "2024-05-01 14:03" in the agent's local time, from an ISO 8601 string. */
export function formatWhen(iso) {
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return "";
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())} ` +
    `${pad(moment.getHours())}:${pad(moment.getMinutes())}`;
}

/** "m:ss" (or "h:mm:ss") from seconds. */
export function formatDuration(seconds) {
  const total = Math.max(0, Math.floor(Number(seconds) || 0));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

// ------------------------------------------------------------------------------ toasts
const TOAST_MS = 6000;

/** Show a short message; kind: "info", "ok" or "error". Errors stay until dismissed. */
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const close = el("button", { class: "toast-close", text: "×", attrs: { type: "button", "aria-label": "Dismiss" } });
  const item = el("div", { class: `toast toast-${kind}`, attrs: { role: kind === "error" ? "alert" : "status" } },
    el("span", { class: "toast-text", text: message }), close);
  close.addEventListener("click", () => item.remove());
  box.append(item);
  while (box.children.length > 4) box.firstElementChild.remove();
  if (kind !== "error") setTimeout(() => item.remove(), TOAST_MS);
  else setTimeout(() => item.remove(), TOAST_MS * 3);
}

// ------------------------------------------------------------------------------ banner
/** Show (or, with null, hide) the connection banner at the top of the page. */
export function banner(message, kind = "warn") {
  const node = document.getElementById("banner");
  if (!node) return;
  if (message === null) {
    node.hidden = true;
    node.textContent = "";
    return;
  }
  node.className = `banner banner-${kind}`;
  node.textContent = message;
  node.hidden = false;
}

/** The status line under a console's tabs (#status): a result, or an error in red. */
export function status(message, bad = false) {
  const line = document.getElementById("status");
  if (!line) return;
  line.textContent = message || "";
  line.className = bad ? "status error" : "status";
}

/**
 * Tabs: the buttons of `nav` (each with data-tab naming a section.tab) show one section at a
 * time; `onShow(name)` runs after each switch. Returns show(name).
 */
export function tabs(nav, onShow) {
  const buttons = [...nav.querySelectorAll("button[data-tab]")];
  const show = (name) => {
    for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== name;
    for (const button of buttons) {
      const on = button.dataset.tab === name;
      button.classList.toggle("active", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
    }
    onShow(name);
  };
  for (const button of buttons) button.addEventListener("click", () => show(button.dataset.tab));
  return show;
}

/** A table row: each cell a <td> node, or a value shown as the text of a new <td>. */
export function row(...cells) {
  return el("tr", {}, ...cells.map((cell) => (cell instanceof Node ? cell : el("td", { text: cell ?? "" }))));
}
