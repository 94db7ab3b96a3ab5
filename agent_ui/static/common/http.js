// JSON over HTTP to the daemon, for every page (desktop, supervisor console, admin console):
// same origin, the session cookie, the CSRF token on every state-changing request
// (docs/protocol.md, section 1), and error answers as ApiError.

let csrfToken = "";

export function setCsrf(token) {
  csrfToken = token || "";
}

/** An error answer from the daemon: `id` is its stable error id, `message` is for people. */
export class ApiError extends Error {
  constructor(status, id, message, details) {
    super(message || `request failed (${status})`);
    this.status = status;
    this.id = id || `http.${status}`;
    this.details = details || {};
  }
}

/**
 * One request. `query` becomes the query string (each value encoded); `body` is sent as JSON.
 */
export async function request(method, path, { query, body } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET") {
    headers["X-CTI-CSRF"] = csrfToken;
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new ApiError(0, "network", "The daemon cannot be reached; check your connection.");
  }
  if (response.status === 204) return {};
  let data = {};
  try {
    data = await response.json();
  } catch (err) {
    data = {};
  }
  if (!response.ok) throw new ApiError(response.status, data.error, data.message, data.details);
  return data;
}

/** The message to show for a failed request, with the wait for rate limits. */
export function explain(err) {
  if (!(err instanceof ApiError)) return "Something went wrong; try again.";
  if (err.id === "rate_limited" && err.details.retry_after_s !== undefined) {
    return `${err.message} (try again in ${Math.ceil(err.details.retry_after_s)} s)`;
  }
  return err.message;
}

/** The token the session's state-changing requests carry (for uploads sent without request()). */
export function csrf() {
  return csrfToken;
}

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
