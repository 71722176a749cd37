// What the views share: the chosen index and the assets seen in it.

import { call, listAll } from "./api.js";

export const INDEX_STORE = "sceneline.indexId";
// What an index made by the console asks for: every modality sceneline has.
const NEW_INDEX = {
  index_name: "console",
  models: [{ model_name: "marengo3.0", model_options: ["visual", "audio"] }],
};

export const state = {
  indexId: "",
  indexes: [],
  /** video id -> indexed asset, kept fresh by the library's polling; names results and the watch page */
  assets: new Map(),
};

export const select = () => document.getElementById("index-select");

export async function loadIndexes() {
  state.indexes = await listAll("indexes");
  const wanted = localStorage.getItem(INDEX_STORE);
  const found = state.indexes.find((i) => i._id === wanted) || state.indexes[0];
  state.indexId = found ? found._id : "";
  const box = select();
  box.replaceChildren(...state.indexes.map((i) => new Option(i.index_name || i._id, i._id, false, i._id === state.indexId)));
  if (!state.indexes.length) box.append(new Option("(none yet: the first upload makes one)", ""));
}

/** The index to upload into, made on first use when the server has none. */
export async function ensureIndex() {
  if (state.indexId) return state.indexId;
  const made = await call("indexes", { method: "POST", json: NEW_INDEX });
  localStorage.setItem(INDEX_STORE, made._id);
  await loadIndexes();
  return state.indexId;
}

