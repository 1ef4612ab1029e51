// Calls to this node's local API. The cookie set by the first visit carries
// the access token; the server checks Host and Origin.

export class APIError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch("/api/v1" + path, init);
  } catch (e) {
    throw new APIError("This node does not answer: is `parley up` still running?", "unreachable", 0);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    if (res.status === 401) {
      throw new APIError("This page has no access to the node: open the address that `parley up` printed (it carries the access token).", "unauthorized", 401);
    }
    throw new APIError(data?.error || `${res.status} ${res.statusText}`, data?.code, res.status);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
