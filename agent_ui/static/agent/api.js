// The desktop's requests: the shared JSON-over-HTTP module (/static/common/http.js), with the
// two verbs the desktop uses and a query-string helper.

import { request } from "/static/common/http.js";

export { ApiError, explain, setCsrf } from "/static/common/http.js";

export const getJson = (path) => request("GET", path);
export const postJson = (path, body = {}) => request("POST", path, { body });

/** Build a path with query parameters, each encoded. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) query.set(key, String(value));
  }
  return `${path}?${query.toString()}`;
}
