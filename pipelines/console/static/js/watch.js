// Watch: the video from the scene's start, the scene marked on a timeline of scene thumbnails,
// the transcript (a click seeks), and a summary with chapters where the server can make them.

import { call, routes } from "./api.js";
import { lastMoments } from "./search.js";
import { state } from "./state.js";
import { bytes, clock, el, thumb } from "./ui.js";

const $ = (id) => document.getElementById(id);
let current = { videoId: "", duration: 0, lines: [] };

/** The scenes to put on the timeline, and what they are: the video's own scene list where the
 * server gives one, else the moments the last search found in this video. */
function scenesOf(asset, videoId) {
  const listed = asset.scenes || [];
  if (listed.length) {
    return {
      title: "Scenes",
      scenes: listed.map((s) => ({ start: Number(s.start ?? 0), end: Number(s.end ?? 0), thumbnail_url: s.thumbnail_url || "" })),
    };
  }
  const found = lastMoments.filter((m) => m.videoId === videoId).sort((a, b) => a.start - b.start);
  return { title: found.length ? "Moments your search found" : "", scenes: found };
}

function seek(seconds, play = true) {
  const player = $("player");
  const go = () => {
    player.currentTime = seconds;
    if (play) player.play().catch(() => { /* autoplay refused: the controls still work */ });
  };
  if (player.readyState >= 1) go();
  else player.addEventListener("loadedmetadata", go, { once: true });
}

function place(node, start, end) {
  const d = current.duration || 1;
  node.style.left = `${(100 * Math.max(0, start)) / d}%`;
  node.style.width = `${Math.max(0.5, (100 * Math.max(0, end - start)) / d)}%`;
}

function renderTimeline({ title, scenes }, mark) {
  $("scenes-title").textContent = title;
  $("scenes-title").hidden = !title;
  const timeline = $("timeline");
  for (const old of timeline.querySelectorAll(".tick")) old.remove();
  for (const scene of scenes) {
    const tick = el("button.tick", {
      type: "button",
      title: `${clock(scene.start)} – ${clock(scene.end)}`,
      "aria-label": `Scene at ${clock(scene.start)}`,
      onclick: () => seek(scene.start),
    });
    place(tick, scene.start, scene.end);
    timeline.append(tick);
  }
  const markNode = $("timeline-mark");
  markNode.hidden = !mark;
  if (mark) place(markNode, mark.start, mark.end);
  $("scenes").replaceChildren(...scenes.map((scene) => el("li", {},
    el("button.scene", { type: "button", onclick: () => seek(scene.start), "aria-label": `Play from ${clock(scene.start)}` },
      thumb(scene.thumbnail_url, `Scene at ${clock(scene.start)}`),
      el("span.small", {}, clock(scene.start))))));
}

function renderTranscript(lines) {
  current.lines = lines || [];
  // TwelveLabs answers `transcription` on a retrieve with ?transcription=true; a server without
  // speech leaves it out, and the panel says so rather than stay blank.
  if (!lines) {
    $("transcript").replaceChildren(el("li.muted.small", {}, "This server gives no transcript for this video."));
    return;
  }
  $("transcript").replaceChildren(...(lines.length ? lines.map((line, i) => el("li", {},
    el("button.line", { type: "button", dataset: { i: String(i) }, onclick: () => seek(line.start) },
      el("span.time", {}, clock(line.start)), " ", line.value || line.text || ""))) : [el("li.muted.small", {}, "No speech found.")]));
}

function followPlayback() {
  const player = $("player");
  const t = player.currentTime;
  const head = $("timeline-head");
  head.style.left = `${(100 * t) / (current.duration || 1)}%`;
  let active = -1;
  current.lines.forEach((line, i) => { if (line.start <= t && t < (line.end ?? line.start + 1)) active = i; });
  for (const b of $("transcript").querySelectorAll(".line")) b.classList.toggle("active", Number(b.dataset.i) === active);
}

/** Summary and chapters come from the analyze routes (POST /v1.3/summarize) where the server has
 * them. They run a language model, so they run when asked, not on every visit. */
async function showAnalysis(videoId) {
  const panel = $("summary-panel");
  $("summary").textContent = "";
  $("chapters").replaceChildren();
  panel.hidden = !(await routes()).has("/v1.3/summarize");
  $("summarize").hidden = false;
}

async function summarize() {
  const videoId = current.videoId;
  $("summarize").hidden = true;
  $("summary").textContent = "Summarizing…";
  try {
    const [summary, chapters] = await Promise.all([
      call("summarize", { method: "POST", json: { video_id: videoId, type: "summary" } }),
      call("summarize", { method: "POST", json: { video_id: videoId, type: "chapter" } }),
    ]);
    if (videoId !== current.videoId) return;
    $("summary").textContent = summary.summary || "";
    $("chapters").replaceChildren(...(chapters.chapters || []).map((c) => el("li", {},
      el("button.line", { type: "button", onclick: () => seek(c.start_sec ?? 0) },
        el("span.time", {}, clock(c.start_sec)), " ", el("b", {}, c.chapter_title || ""),
        c.chapter_summary ? el("span.small.muted", {}, ` ${c.chapter_summary}`) : ""))));
  } catch (err) {
    $("summary").textContent = `No summary: ${err.message}`;
    $("summarize").hidden = false;
  }
}

export async function showWatch(videoId, query) {
  if (!videoId) throw new Error("No video given to watch.");
  const start = Number(query.get("start") || 0);
  const end = Number(query.get("end") || start);
  const hasMark = query.has("start");
  const path = `indexes/${encodeURIComponent(state.indexId)}/indexed-assets/${encodeURIComponent(videoId)}`;
  const asset = await call(path, { query: { transcription: true, scenes: true } });
  const meta = asset.system_metadata || {};
  current = { videoId, duration: Number(meta.duration) || 0, lines: [] };
  $("watch-title").textContent = meta.filename || videoId;
  $("watch-meta").textContent = [asset.status, meta.duration ? clock(meta.duration) : "",
    meta.width ? `${meta.width}×${meta.height}` : "", bytes(meta.size)].filter(Boolean).join(" · ");
  const player = $("player");
  const src = (asset.hls && asset.hls.video_url) || "";
  if (!src) throw new Error("The server gives no playable file for this video.");
  // An image has no duration: it is shown, not played.
  const still = !meta.duration;
  player.hidden = still;
  $("timeline").hidden = still;
  $("still").hidden = !still;
  if (still) {
    player.pause();
    player.removeAttribute("src");
    $("still").src = src;
    $("still").alt = meta.filename || videoId;
  } else if (player.getAttribute("src") !== src) {
    player.src = src;
  }
  player.addEventListener("loadedmetadata", () => {
    if (!current.duration) current.duration = player.duration;
  }, { once: true });
  renderTimeline(scenesOf(asset, videoId), hasMark ? { start, end } : null);
  renderTranscript(asset.transcription);
  if (!still) seek(start, hasMark);
  showAnalysis(videoId);
}

export function initWatch() {
  $("summarize").addEventListener("click", summarize);
  const player = $("player");
  player.addEventListener("timeupdate", followPlayback);
  player.addEventListener("error", () => {
    const e = player.error;
    if (e) document.getElementById("watch-meta").textContent += ` · cannot play: ${e.message || `media error ${e.code}`}`;
  });
}
