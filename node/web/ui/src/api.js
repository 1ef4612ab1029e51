// Calls to this node's local API. They carry the session cookie the first
// visit (with the node's access token) got; the server checks it, the Host
// and the Origin.

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
      throw new APIError("This page has no access to the node: run `parley open` on this machine and open the address it prints.", "unauthorized", 401);
    }
    throw new APIError(data?.error || `${res.status} ${res.statusText}`, data?.code, res.status);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
