// The server's TwelveLabs v1.3 API, as the page uses it: the same routes and shapes as the SDK.
// A 401/403 asks for a key once, keeps it for the tab (sessionStorage) and retries.

export const API = "/v1.3";
const KEY_STORE = "sceneline.apiKey";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORE) || "";
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_STORE);
}

let keyPrompt = null; // one dialog at a time, shared by every request that needs it

/** Ask for a key in the page's dialog; resolves to the key, or "" when the person cancels. */
export function askForKey(reason) {
  if (keyPrompt) return keyPrompt;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  document.getElementById("key-reason").textContent = reason || "This server asks for an API key.";
  input.value = "";
  dialog.returnValue = ""; // Escape leaves the last value in place: start from "no answer"
  // Enter submits with "ok"; Cancel and Escape close with no value.
  document.getElementById("key-cancel").onclick = () => dialog.close("");
  keyPrompt = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      keyPrompt = null;
      const key = dialog.returnValue === "ok" ? input.value.trim() : "";
      if (key) sessionStorage.setItem(KEY_STORE, key);
      resolve(key);
    }, { once: true });
  });
  dialog.showModal();
  input.focus();
  return keyPrompt;
}

/** The reason a server gave, in words: TwelveLabs' {code, message}, FastAPI's {detail}, or the status. */
export async function reasonOf(response) {
  let body = "";
  try { body = await response.text(); } catch { /* the status below still says something */ }
  try {
    const parsed = JSON.parse(body);
    if (parsed.message) return parsed.message;
    if (typeof parsed.detail === "string") return parsed.detail;
    if (Array.isArray(parsed.detail)) {
      return parsed.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    }
  } catch { /* not JSON */ }
  return body.trim().slice(0, 300) || `${response.status} ${response.statusText}`;
}

function withQuery(path, query) {
  const url = new URL(path.startsWith("/") ? path : `${API}/${path}`, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(name, v);
  }
  return url;
}

/** Call the API: JSON in (or FormData), JSON out; an ApiError with the server's reason otherwise. */
export async function call(path, { method = "GET", query, json, form } = {}) {
  const url = withQuery(path, query);
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const headers = {};
    const key = apiKey();
    if (key) headers["x-api-key"] = key;
    let body;
    if (json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    let response;
    try {
      response = await fetch(url, { method, headers, body });
    } catch (err) {
      throw new ApiError(0, `The server cannot be reached (${err.message}).`);
    }
    if (response.status === 401 || response.status === 403) {
      const reason = await reasonOf(response);
      forgetKey();
      if (!(await askForKey(key ? `That key was refused: ${reason}` : reason))) {
        throw new ApiError(response.status, `An API key is needed: ${reason}`);
      }
      continue;
    }
    if (!response.ok) throw new ApiError(response.status, await reasonOf(response));
    if (response.status === 204) return null;
    return response.json();
  }
  throw new ApiError(401, "No key was accepted.");
}

/** Every page of a paged list (`page`, `page_info.total_page`), up to `maxPages`. */
export async function listAll(path, query = {}, maxPages = 20) {
  const items = [];
  for (let page = 1; page <= maxPages; page += 1) {
    const res = await call(path, { query: { ...query, page, page_limit: 50 } });
    const data = res.data || [];
    items.push(...data);
    const total = res.page_info && res.page_info.total_page;
    if (!data.length || (total && page >= total) || (!total && data.length < 50)) break;
  }
  return items;
}

/** Upload one file as a task, reporting progress; XMLHttpRequest because fetch has no upload progress. */
export function uploadTask(indexId, file, onProgress) {
  const form = new FormData();
  form.append("index_id", indexId);
  form.append("video_file", file, file.name);
  const send = () => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${API}/tasks`);
    const key = apiKey();
    if (key) xhr.setRequestHeader("x-api-key", key);
    xhr.responseType = "text";
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onerror = () => reject(new ApiError(0, "The upload was cut off (the server cannot be reached)."));
    xhr.onload = () => {
      const fake = new Response(xhr.responseText, { status: xhr.status });
      if (xhr.status >= 200 && xhr.status < 300) resolve(fake.json());
      else reasonOf(fake).then((reason) => reject(new ApiError(xhr.status, reason)));
    };
    xhr.send(form);
  });
  return send().catch(async (err) => {
    if ((err.status === 401 || err.status === 403) && (forgetKey(), await askForKey(err.message))) return send();
    throw err;
  });
}

let openapi = null;

/** The server's route list (FastAPI's /openapi.json), to show panels only where a route answers. */
export async function routes() {
  if (!openapi) {
    openapi = fetch("/openapi.json")
      .then((r) => (r.ok ? r.json() : { paths: {} }))
      .catch(() => ({ paths: {} }));
  }
  return new Set(Object.keys((await openapi).paths || {}));
}
