// Search: text, an image (picked or pasted) or both; modality toggles; filters; group by video.
// Each hit shows its thumbnail, video, time range, score and the words that matched.

import { call } from "./api.js";
import { knownAssets, nameOf } from "./library.js";
import { state } from "./state.js";
import { clock, el, notify, parseMetadata, thumb } from "./ui.js";

// The page's modality toggles -> the API's `search_options` (TwelveLabs' names: `text_in_video` is
// Marengo's on-screen text, sceneline's text vector of descriptions and visible text).
export const SEARCH_OPTIONS = {
  visual: "visual",
  text: "text_in_video",
  speech: "transcription",
};

let queryImage = null; // a File, or null
/** The hits of the last search, so the watch page can show the other moments found in a video. */
export const lastMoments = [];
let nextPageToken = "";
let busy = false;

const $ = (id) => document.getElementById(id);

function setQueryImage(file) {
  queryImage = file;
  const preview = $("query-image-preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  if (file) preview.src = URL.createObjectURL(file);
  else preview.removeAttribute("src");
  $("query-image").hidden = !file;
}

function searchForm() {
  const form = $("search-form");
  const text = form.elements.q.value.trim();
  const modalities = [...form.querySelectorAll("input[name=modality]:checked")].map((box) => box.value);
  if (!text && !queryImage) throw new Error("Type a query or choose an image to search with.");
  if (!modalities.length) throw new Error("Tick at least one of visual, on-screen text and descriptions, or spoken words.");
  const data = new FormData();
  data.append("index_id", state.indexId);
  if (text) data.append("query_text", text);
  if (queryImage) {
    data.append("query_media_type", "image");
    data.append("query_media_file", queryImage, queryImage.name || "pasted.png");
  }
  for (const m of modalities) data.append("search_options", SEARCH_OPTIONS[m]);
  data.append("group_by", form.elements.group.checked ? "video" : "clip");
  data.append("page_limit", String(Math.min(50, Math.max(1, Number(form.elements.limit.value) || 12))));
  const filter = parseMetadata(form.elements.meta.value) || {};
  const range = {};
  if (form.elements.min.value !== "") range.gte = Number(form.elements.min.value);
  if (form.elements.max.value !== "") range.lte = Number(form.elements.max.value);
  if (Object.keys(range).length) filter.duration = range;
  if (Object.keys(filter).length) data.append("filter", JSON.stringify(filter));
  return { data, text };
}

/** The words of a hit that matched, under whichever names the server gives them. */
function snippets(hit) {
  const pick = (...names) => names.map((n) => hit[n]).find((v) => typeof v === "string" && v.trim());
  return [
    ["Description", pick("description", "caption")],
    ["On screen", pick("text_in_video", "visible_text", "ocr_text", "ocr", "text")],
    ["Said", pick("transcription", "transcript")],
  ].filter(([, v]) => v);
}

function scoreText(hit) {
  if (typeof hit.score === "number") return `score ${hit.score.toFixed(3)}`;
  if (hit.rank !== undefined) return `rank ${hit.rank}`;
  return "";
}

/** Images have no duration: their one "scene" has no time range worth showing. */
function isImage(videoId) {
  const asset = state.assets.get(videoId);
  return Boolean(asset && asset.status === "ready" && !(asset.system_metadata || {}).duration);
}

function resultItem(hit, videoId) {
  const start = Number(hit.start) || 0;
  const end = Number(hit.end) || start;
  lastMoments.push({ videoId, start, end, thumbnail_url: hit.thumbnail_url || "" });
  const href = `#/watch/${encodeURIComponent(videoId)}?start=${start}&end=${end}`;
  const name = nameOf(videoId);
  const item = el("li.result", { dataset: { testid: "result", videoId, start: String(start), end: String(end) } },
    el("a.result-link", { href, "aria-label": `Play ${name} from ${clock(start)}` },
      thumb(hit.thumbnail_url, `${name} at ${clock(start)}`)),
    el("div.result-body", {},
      el("a.name", { href }, name),
      el("p.small", {}, isImage(videoId) ? "image" : `${clock(start)} – ${clock(end)}`,
        el("span.muted", {}, ` · ${scoreText(hit)}`)),
      snippets(hit).map(([label, text]) => el("p.snippet", {}, el("b", {}, `${label}: `), text))));
  // The whole card plays, not just its link: a bigger target on a phone.
  item.addEventListener("click", (e) => { if (!e.target.closest("a")) location.hash = href; });
  return item;
}

function renderResults(page, append) {
  const list = $("results");
  if (!append) {
    list.replaceChildren();
    lastMoments.length = 0;
  }
  for (const hit of page.data || []) {
    if (Array.isArray(hit.clips)) { // grouped by video
      const videoId = hit.id || hit.video_id;
      list.append(el("li.group", {},
        el("h3", {}, nameOf(videoId), el("span.muted.small", {}, ` · ${hit.clips.length} moments`)),
        el("ol.results", {}, hit.clips.map((clip) => resultItem(clip, clip.video_id || videoId)))));
    } else {
      list.append(resultItem(hit, hit.video_id || hit.id));
    }
  }
  const info = page.page_info || {};
  nextPageToken = info.next_page_token || "";
  $("more-results").hidden = !nextPageToken;
  const shown = list.querySelectorAll("[data-testid=result]").length;
  $("search-summary").textContent = shown
    ? `${shown} moment${shown === 1 ? "" : "s"}${info.total_results ? ` of ${info.total_results}` : ""}.`
    : "No matching moments. Try other words, another modality, or fewer filters.";
}

async function runSearch() {
  if (busy) return;
  if (!state.indexId) {
    notify("There is no index yet: upload a video in the Library first.");
    return;
  }
  let request;
  try {
    request = searchForm();
  } catch (err) {
    notify(err.message);
    return;
  }
  busy = true;
  $("search-summary").textContent = "Searching…";
  $("results").setAttribute("aria-busy", "true");
  try {
    await knownAssets();
    const page = await call("search", { method: "POST", form: request.data });
    renderResults(page, false);
  } catch (err) {
    $("results").replaceChildren();
    $("search-summary").textContent = "";
    notify(`Search failed: ${err.message}`);
    if (err.status === 400) disableRefusedModality(err.message);
  } finally {
    busy = false;
    $("results").removeAttribute("aria-busy");
  }
}

/** A modality the server refuses ("search option 'x' is not available ...") is switched off, with
 * the server's reason on it, so the next search works and the person sees why. */
function disableRefusedModality(message) {
  for (const [modality, option] of Object.entries(SEARCH_OPTIONS)) {
    if (!message.includes(`'${option}'`)) continue;
    const box = $("search-form").querySelector(`input[name=modality][value=${modality}]`);
    box.checked = false;
    box.disabled = true;
    box.parentElement.title = message;
    box.parentElement.classList.add("unavailable");
  }
}

async function morePage() {
  if (!nextPageToken) return;
  try {
    renderResults(await call(`search/${encodeURIComponent(nextPageToken)}`), true);
  } catch (err) {
    notify(`Cannot load more results: ${err.message}`);
  }
}

export function initSearch() {
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); runSearch(); });
  const imageInput = $("search-image-input");
  imageInput.addEventListener("change", () => {
    const [file] = imageInput.files;
    imageInput.value = "";
    if (!file) return;
    setQueryImage(file);
    runSearch();
  });
  $("query-image-clear").addEventListener("click", () => setQueryImage(null));
  $("more-results").addEventListener("click", morePage);
  document.addEventListener("paste", (e) => {
    if ($("view-search").hidden) return;
    const file = [...(e.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (!file) return; // plain text pastes into the box as usual
    e.preventDefault();
    setQueryImage(file);
    runSearch();
  });
}

export async function showSearch() {
  $("search-input").focus();
  await knownAssets();
}
