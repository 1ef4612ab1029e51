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
  return request("/api/v1" + path, method, body, "This node does not answer: is `parley up` still running?");
}

// guestPost calls one of the public gateway's guest routes (path like
// "/guest/join"), for a guest's page.
export function guestPost(path, body) {
  return request(path, "POST", body, "The interview's server does not answer: check your connection and try again.");
}

async function request(url, method, body, unreachable) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new APIError(unreachable, "unreachable", 0);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    if (res.status === 401 && url.startsWith("/api/")) {
      throw new APIError("This page has no access to the node: run `parley open` on this machine and open the address it prints.", "unauthorized", 401);
    }
    throw new APIError(data?.error || `${res.status} ${res.statusText}`, data?.code, res.status);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
