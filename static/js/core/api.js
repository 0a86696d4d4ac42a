// The v1 REST API as the browser client uses it: session cookie + CSRF token, the
// protocol's error shape turned into ApiError, and uploads with progress events.

const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message || code);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

// No answer at all (offline, server down, connection cut): the same request may be
// tried again later, with the same change ids.
export class NetworkError extends Error {
  constructor(message = "The server could not be reached.") {
    super(message);
    this.name = "NetworkError";
  }
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const err = body && body.error;
  if (err && err.code) {
    return new ApiError(response.status, err.code, err.message, err.details || {});
  }
  return new ApiError(response.status, `http_${response.status}`, response.statusText);
}

export async function request(method, path, { body, query, headers = {}, raw = false } = {}) {
  let url = path.startsWith("/") && !path.startsWith(API) ? API + path : path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== "") params.set(k, v);
    }
    const qs = params.toString();
    if (qs) url += (url.includes("?") ? "&" : "?") + qs;
  }
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new NetworkError();
  }
  if (!response.ok) {
    // A proxy's 502/503/504 page is an outage, not an answer: retry later.
    if (response.status >= 502 && response.status <= 504) throw new NetworkError();
    throw await errorFrom(response);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export const api = {
  get: (path, query) => request("GET", path, { query }),
  post: (path, body) => request("POST", path, { body: body ?? {} }),
  put: (path, body) => request("PUT", path, { body }),
  patch: (path, body) => request("PATCH", path, { body }),
  del: (path, query) => request("DELETE", path, { query }),
  blob: async (url) => (await request("GET", url, { raw: true })).blob(),
  // Every entry of a list endpoint: its pages followed through `next` to the last.
  all: async (path, query) => {
    let page = await request("GET", path, { query: { limit: 500, ...query } });
    const results = [...page.results];
    while (page.next) {
      page = await request("GET", page.next);
      results.push(...page.results);
    }
    return results;
  },
};

// POST a JSON body with upload progress (fetch cannot report it). onProgress gets
// (loaded, total) in bytes of the request body.
export function postWithProgress(path, body, onProgress) {
  const url = path.startsWith(API) ? path : API + path;
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.withCredentials = true;
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.upload.onprogress = (e) => {
      if (onProgress && e.lengthComputable) onProgress(e.loaded, e.total);
    };
    xhr.onerror = () => reject(new NetworkError());
    xhr.onabort = () => reject(new NetworkError("The upload was cancelled."));
    xhr.onload = () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(data);
      } else if (xhr.status === 0 || (xhr.status >= 502 && xhr.status <= 504)) {
        reject(new NetworkError());
      } else {
        const err = data && data.error;
        reject(new ApiError(xhr.status, err ? err.code : `http_${xhr.status}`, err ? err.message : xhr.statusText, err ? err.details || {} : {}));
      }
    };
    xhr.send(payload);
  });
}
