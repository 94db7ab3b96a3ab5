// The desktop's own DOM pieces; the shared helpers are in /static/common/dom.js.

import { el } from "/static/common/dom.js";

/** A click-to-dial button, the same shape the server's pop templates render. */
export function dialButton(number, display) {
  return el("button", {
    class: "dial",
    text: display || number,
    attrs: { type: "button", "data-number": number, title: `Call ${number}` },
  });
}
