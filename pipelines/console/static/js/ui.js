// Small DOM helpers shared by the views.

/** el("li.card", {dataset: {...}, onclick}, child, "text", ...) */
export function el(spec, props = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag || "div");
  if (classes.length) node.className = classes.join(" ");
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name in node && name !== "list") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** 75.4 -> "1:15.4"; 5 -> "0:05.0"; 3723 -> "1:02:03" */
export function clock(seconds) {
  if (seconds === undefined || seconds === null || Number.isNaN(Number(seconds))) return "?";
  const s = Math.max(0, Number(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  // Tenths while a moment is short enough for them to matter; whole seconds past ten minutes.
  const sec = s < 600 ? rest.toFixed(1).padStart(4, "0") : String(Math.floor(rest)).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function bytes(n) {
  if (!n) return "";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** Show an error (or a message) in words at the top of the page. */
export function notify(message, kind = "error") {
  const box = document.getElementById("notice");
  document.getElementById("notice-text").textContent = message;
  box.dataset.kind = kind;
  box.hidden = false;
}

export function clearNotice() {
  document.getElementById("notice").hidden = true;
}

/** "key=value" -> {key: value} (numbers and true/false typed), "" -> null, else an Error in words. */
export function parseMetadata(text) {
  const trimmed = (text || "").trim();
  if (!trimmed) return null;
  const out = {};
  for (const part of trimmed.split(/[,;]\s*/)) {
    const at = part.indexOf("=");
    if (at < 1) throw new Error(`Metadata filter "${part}" should read key=value.`);
    const key = part.slice(0, at).trim();
    const raw = part.slice(at + 1).trim();
    out[key] = raw === "true" ? true : raw === "false" ? false : raw !== "" && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
  }
  return out;
}

/** A thumbnail <img> that shows a grey box instead of a broken image. The server's media URLs
 * are presigned, so an element fetches them without the API key. */
export function thumb(src, alt) {
  const img = el("img.thumb", { alt, decoding: "async" });
  img.addEventListener("error", () => img.classList.add("missing"), { once: true });
  if (src) img.src = src;
  else img.classList.add("missing");
  return img;
}
