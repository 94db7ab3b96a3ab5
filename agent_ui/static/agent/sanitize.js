// The pop card's HTML comes from the daemon, rendered from the group's template in a sandbox
// with every value escaped. A second line of defence here: it is parsed inertly (DOMParser runs
// no script and loads nothing) and only an allow-list of elements and attributes is kept.
// Nothing else in the page builds DOM from markup.

const ELEMENTS = new Set([
  "section", "header", "footer", "div", "p", "span", "h2", "h3", "h4", "ul", "ol", "li",
  "table", "thead", "tbody", "tr", "th", "td", "strong", "em", "b", "i", "q", "br", "small",
  "button", "a", "dl", "dt", "dd", "time", "abbr", "code", "hr", "caption",
]);
const ATTRIBUTES = new Set(["class", "title", "colspan", "rowspan", "datetime", "aria-label"]);
const DROP_WITH_CONTENT = new Set(["script", "style", "template", "iframe", "object", "embed",
  "noscript", "svg", "math", "link", "meta", "base", "form", "input", "textarea", "select"]);

function safeHref(value) {
  try {
    const url = new URL(value, window.location.origin);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch (err) {
    return null;
  }
}

function cleanAttributes(source, target) {
  for (const attr of Array.from(source.attributes)) {
    const name = attr.name.toLowerCase();
    if (ATTRIBUTES.has(name) || (name.startsWith("data-") && /^data-[a-z0-9-]+$/.test(name))) {
      target.setAttribute(name, attr.value);
    }
  }
  const tag = target.localName;
  if (tag === "button") target.setAttribute("type", "button");
  if (tag === "a") {
    const href = safeHref(source.getAttribute("href") || "");
    if (href) {
      target.setAttribute("href", href);
      target.setAttribute("target", "_blank");
      target.setAttribute("rel", "noopener noreferrer");
    }
  }
}

function copy(node, into) {
  for (const child of Array.from(node.childNodes)) {
    if (child.nodeType === Node.TEXT_NODE) {
      into.append(document.createTextNode(child.data));
    } else if (child.nodeType === Node.ELEMENT_NODE) {
      const tag = child.localName;
      if (DROP_WITH_CONTENT.has(tag)) continue;
      if (!ELEMENTS.has(tag)) {
        copy(child, into); // unknown wrapper: keep its text, drop the element
        continue;
      }
      const clean = document.createElement(tag);
      cleanAttributes(child, clean);
      copy(child, clean);
      into.append(clean);
    }
  }
}

/** Return a fragment of this document holding the allowed part of `html`. */
export function sanitizedFragment(html) {
  const parsed = new DOMParser().parseFromString(String(html || ""), "text/html");
  const fragment = document.createDocumentFragment();
  copy(parsed.body, fragment);
  return fragment;
}
