// The console's shell: which index, which view (from the URL hash), the key button, errors in words.

import { apiKey, askForKey, forgetKey } from "./api.js";
import { initLibrary, showLibrary } from "./library.js";
import { initSearch, showSearch } from "./search.js";
import { clearNotice, notify } from "./ui.js";
import { initWatch, showWatch } from "./watch.js";
import { INDEX_STORE, loadIndexes, select, state } from "./state.js";

function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, queryText] = hash.split("?");
  const parts = path.split("/").filter(Boolean);
  return { view: parts[0] || "library", arg: parts.slice(1).map(decodeURIComponent), query: new URLSearchParams(queryText || "") };
}

async function render() {
  const { view, arg, query } = route();
  const known = ["library", "search", "watch"].includes(view) ? view : "library";
  document.getElementById("loading").hidden = true;
  for (const section of document.querySelectorAll("[data-view]")) section.hidden = section.dataset.view !== known;
  for (const link of document.querySelectorAll("[data-view-link]")) {
    if (link.dataset.viewLink === known) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (known !== "watch") {
    document.getElementById("watch-back").href = `#/${known}`; // "Back" returns to the list it came from
    document.getElementById("player").pause();
  }
  try {
    if (known === "library") await showLibrary();
    else if (known === "search") await showSearch(query);
    else await showWatch(arg[0], query);
  } catch (err) {
    notify(err.message || String(err));
  }
}

function initChrome() {
  document.getElementById("notice-close").addEventListener("click", clearNotice);
  // The skip link moves focus only: the URL hash belongs to the views.
  document.querySelector(".skip").addEventListener("click", (e) => {
    e.preventDefault();
    document.getElementById("main").focus();
  });
  select().addEventListener("change", async () => {
    state.indexId = select().value;
    localStorage.setItem(INDEX_STORE, state.indexId);
    state.assets.clear();
    await render();
  });
  const keyButton = document.getElementById("key-button");
  keyButton.hidden = !apiKey();
  keyButton.addEventListener("click", async () => {
    forgetKey();
    await askForKey("Enter another API key for this tab.");
    keyButton.hidden = !apiKey();
    await start();
  });
  window.addEventListener("hashchange", () => { clearNotice(); render(); });
  // Errors nobody caught still reach the person, in words, instead of a silent page.
  window.addEventListener("unhandledrejection", (e) => { e.preventDefault(); notify(e.reason?.message || String(e.reason)); });
}

async function start() {
  try {
    await loadIndexes();
    document.getElementById("key-button").hidden = !apiKey();
  } catch (err) {
    document.getElementById("loading").hidden = true;
    notify(`Cannot list the indexes: ${err.message}`);
    return;
  }
  await render();
}

initChrome();
initLibrary();
initSearch();
initWatch();
start();
