// Form helpers for the consoles: the field the server refused (details.field of an ApiError) is
// marked aria-invalid and its message shown in the form's matching .field-error slot, so a
// keyboard or screen-reader user lands on what to fix.

import { el } from "/static/common/dom.js";

/** A labelled input with its error slot; `attrs` go on the input. */
export function field(label, name, attrs = {}) {
  return el("label", {}, label, el("input", { attrs: { name, ...attrs } }), errorSlot(name));
}

/** The slot where `markInvalid` writes the server's message about field `name`. */
export function errorSlot(name) {
  return el("span", { class: "field-error", attrs: { "data-error-for": name, role: "alert" } });
}

/** Clear every mark left by a previous refusal. */
export function clearInvalid(form) {
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
}

/** Mark the field the server named (or the whole form's first slot) and focus it. */
export function markInvalid(form, err) {
  clearInvalid(form);
  const name = String(err.details?.field || "").split(".")[0];
  const input = name ? form.querySelector(`[name="${CSS.escape(name)}"], [data-field="${CSS.escape(name)}"]`) : null;
  const slot = name ? form.querySelector(`[data-error-for="${CSS.escape(name)}"]`) : null;
  if (input) {
    input.setAttribute("aria-invalid", "true");
    if (typeof input.focus === "function") input.focus();
  }
  if (slot) slot.textContent = err.message;
}
