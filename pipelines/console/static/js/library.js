// Library: upload (drop or pick, a progress bar each), every video and image with its status,
// polled live, and filters on name, status, duration and user metadata.

import { call, listAll, uploadTask } from "./api.js";
import { ensureIndex, state } from "./state.js";
import { bytes, clock, el, notify, parseMetadata, thumb } from "./ui.js";

const POLL_MS = 2000;
const FINAL = new Set(["ready", "failed"]);

/** task id -> {name, status, videoId, reason}: uploads from this tab, shown until the library lists them */
const tasks = new Map();
let pollTimer = 0;

const $ = (id) => document.getElementById(id);

/** The reason a task or asset failed, whatever field the server put it in. */
function failureReason(item) {
  const e = item.error || item.failure || item.reason || item.failure_reason || item.message;
  if (!e) return "";
  return typeof e === "string" ? e : e.message || JSON.stringify(e);
}

function assetName(asset) {
  return (asset.system_metadata && asset.system_metadata.filename) || asset.filename || asset._id;
}

export function nameOf(videoId) {
  const asset = state.assets.get(videoId);
  return asset ? assetName(asset) : videoId;
}

async function uploadFiles(files) {
  if (!files.length) return;
  let indexId;
  try {
    indexId = await ensureIndex();
  } catch (err) {
    notify(`Cannot make an index to upload into: ${err.message}`);
    return;
  }
  await Promise.all([...files].map((file) => uploadOne(indexId, file)));
}

async function uploadOne(indexId, file) {
  const bar = el("progress", { max: 1, value: 0, "aria-label": `Upload of ${file.name}` });
  const status = el("span.status", {}, "uploading");
  const row = el("li.upload", {}, el("span.name", { title: file.name }, file.name), el("span.muted.small", {}, bytes(file.size)), bar, status);
  $("uploads").prepend(row);
  try {
    const task = await uploadTask(indexId, file, (fraction) => { bar.value = fraction; });
    bar.value = 1;
    const id = task._id || task.id;
    tasks.set(id, { name: file.name, status: task.status || "validating", videoId: task.video_id, reason: "" });
    status.textContent = "uploaded";
    row.dataset.taskId = id;
    schedulePoll(0);
  } catch (err) {
    status.textContent = `failed: ${err.message}`;
    row.classList.add("failed");
  }
}

async function pollTasks() {
  const open = [...tasks.entries()].filter(([, t]) => !FINAL.has(t.status));
  await Promise.all(open.map(async ([id, t]) => {
    try {
      const task = await call(`tasks/${encodeURIComponent(id)}`);
      t.status = task.status || t.status;
      t.videoId = task.video_id || t.videoId;
      t.reason = failureReason(task);
      t.duration = task.system_metadata && task.system_metadata.duration;
    } catch (err) {
      t.status = "failed";
      t.reason = err.message;
    }
    const row = document.querySelector(`[data-task-id="${CSS.escape(id)}"] .status`);
    if (row) row.textContent = t.status + (t.reason ? `: ${t.reason}` : "");
  }));
}

async function refresh() {
  if (!state.indexId) {
    renderAssets();
    return;
  }
  const indexId = state.indexId;
  const [assets, failed] = await Promise.all([
    listAll(`indexes/${encodeURIComponent(indexId)}/indexed-assets`),
    // Indexed assets carry no failure reason; their tasks do (`error`).
    listAll("tasks", { index_id: indexId, status: "failed" }),
    pollTasks(),
  ]);
  if (indexId !== state.indexId) return; // the person switched index meanwhile
  const reasons = new Map(failed.map((t) => [t.video_id, failureReason(t)]));
  state.assets = new Map(assets.map((a) => [a._id, reasons.get(a._id) ? { ...a, error: reasons.get(a._id) } : a]));
  renderAssets();
}

function isWaiting() {
  return [...tasks.values()].some((t) => !FINAL.has(t.status))
    || [...state.assets.values()].some((a) => !FINAL.has(a.status));
}

function schedulePoll(delay = POLL_MS) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(async () => {
    try {
      await refresh();
    } catch (err) {
      notify(`Cannot refresh the library: ${err.message}`);
    }
    const visible = !$("view-library").hidden;
    if (visible || isWaiting()) schedulePoll();
  }, delay);
}

function filters() {
  const form = $("library-filters");
  const get = (name) => form.elements[name].value.trim();
  let meta = null;
  try {
    meta = parseMetadata(get("meta"));
    form.elements.meta.setCustomValidity("");
  } catch (err) {
    form.elements.meta.setCustomValidity(err.message);
    form.elements.meta.reportValidity();
  }
  return { name: get("name").toLowerCase(), status: get("status"), min: get("min"), max: get("max"), meta };
}

function matches(asset, f) {
  const duration = asset.system_metadata && asset.system_metadata.duration;
  if (f.name && !assetName(asset).toLowerCase().includes(f.name)) return false;
  if (f.status && asset.status !== f.status) return false;
  if (f.min !== "" && !(duration >= Number(f.min))) return false;
  if (f.max !== "" && !(duration <= Number(f.max))) return false;
  if (f.meta) {
    const meta = asset.user_metadata || {};
    for (const [k, v] of Object.entries(f.meta)) if (String(meta[k]) !== String(v)) return false;
  }
  return true;
}

/** Assets the server lists, plus this tab's uploads it does not list yet: one card per video. */
function allAssets() {
  const list = [...state.assets.values()];
  for (const [id, t] of tasks) {
    if (t.videoId && state.assets.has(t.videoId)) continue;
    list.unshift({ _id: t.videoId || id, status: t.status, system_metadata: { filename: t.name, duration: t.duration }, error: t.reason, fromTask: true });
  }
  return list;
}

function card(asset) {
  const meta = asset.system_metadata || {};
  const status = asset.status || "pending";
  const reason = failureReason(asset);
  const ready = status === "ready";
  const facts = [
    meta.duration ? clock(meta.duration) : "",
    meta.width && meta.height ? `${meta.width}×${meta.height}` : "",
    bytes(meta.size),
  ].filter(Boolean).join(" · ");
  const title = ready
    ? el("a.name", { href: `#/watch/${encodeURIComponent(asset._id)}` }, assetName(asset))
    : el("span.name", {}, assetName(asset));
  const still = asset.thumbnail_url || (asset.hls && (asset.hls.thumbnail_urls || [])[0]);
  const picture = still ? thumb(still, assetName(asset)) : null;
  const userMeta = asset.user_metadata && Object.keys(asset.user_metadata).length
    ? el("p.small.muted", {}, Object.entries(asset.user_metadata).map(([k, v]) => `${k}=${v}`).join(", "))
    : null;
  return el("li.asset", { dataset: { testid: "asset", status, videoId: asset._id } },
    picture && ready ? el("a.asset-thumb", { href: `#/watch/${encodeURIComponent(asset._id)}`, tabindex: "-1" }, picture) : picture,
    title,
    el("span.badge", { dataset: { status } }, status),
    el("span.small.muted", {}, facts),
    reason ? el("p.reason", {}, reason) : null,
    userMeta);
}

let rendered = "";

function renderAssets() {
  const f = filters();
  const all = allAssets();
  const shown = all.filter((a) => matches(a, f));
  // Polling re-renders only on a change, so focus and hover survive an unchanged list.
  const signature = JSON.stringify(shown);
  if (signature !== rendered) {
    rendered = signature;
    $("assets").replaceChildren(...shown.map(card));
  }
  const counts = {};
  for (const a of all) counts[a.status] = (counts[a.status] || 0) + 1;
  const summary = Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ");
  $("library-count").textContent = !all.length
    ? (state.indexId ? "Nothing here yet: upload a video or an image." : "No index yet: the first upload makes one.")
    : `${shown.length} of ${all.length} shown (${summary}).`;
}

export function initLibrary() {
  const input = $("upload-input");
  input.addEventListener("change", () => {
    const files = [...input.files];
    input.value = ""; // choosing the same file again uploads it again
    uploadFiles(files);
  });
  const zone = $("dropzone");
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) zone.addEventListener(name, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    uploadFiles([...e.dataTransfer.files]);
  });
  // A file dropped beside the drop area would make the browser open it and leave the page.
  for (const name of ["dragover", "drop"]) window.addEventListener(name, (e) => e.preventDefault());
  $("library-filters").addEventListener("input", renderAssets);
  $("library-filters").addEventListener("change", renderAssets);
  $("library-filters").addEventListener("submit", (e) => e.preventDefault());
}

export async function showLibrary() {
  await refresh();
  schedulePoll();
}

/** The assets of the index, listed once if nothing has listed them yet (for names in results). */
export async function knownAssets() {
  if (!state.assets.size && state.indexId) await refresh();
  return state.assets;
}
