// The binary item view (a file on the item page), and the pieces the items list shares
// with it: kind icons, the upload progress bar and the size check.
//
// renderBinary({client, handoff, item, container}) is called by pages/item.js for a binary item
// and again whenever the item changes; it builds the view once per container and then
// updates it in place, fetching the content again only when it changed.
import { api, NetworkError } from "../core/api.js";
import { formatBytes, formatDate, h, timeEl } from "../core/ui.js";

// -- shared with the items list

const SVG_NS = "http://www.w3.org/2000/svg";
const ICON_PATHS = {
  note: ["M7 3h7l5 5v13H7a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z", "M14 3v5h5", "M9 13h6M9 17h6"],
  file: ["M7 3h7l5 5v13H7a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z", "M14 3v5h5"],
  image: ["M5 4h14a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1z", "M4 16l5-5 4 4 2-2 5 5", "M15.5 8.5h.01"],
};

export function icon(name, size = 24) {
  const svg = document.createElementNS(SVG_NS, "svg");
  for (const [k, v] of Object.entries({ width: size, height: size, viewBox: "0 0 24 24", fill: "none", stroke: "currentColor", "stroke-width": "1.75", "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true", focusable: "false" })) {
    svg.setAttribute(k, v);
  }
  for (const d of ICON_PATHS[name] || ICON_PATHS.file) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

export function isImage(item) {
  return item.kind === "binary" && /^image\//i.test(item.content_type || "");
}

export function iconName(item) {
  if (item.kind === "text") return "note";
  return isImage(item) ? "image" : "file";
}

// What kind of file, in words: "PNG image", "PDF document", "File".
export function describeType(item) {
  if (item.kind === "text") return "Note";
  const type = (item.content_type || "").toLowerCase();
  const sub = type.split("/")[1] || "";
  const short = sub.replace(/^(x-|vnd\.)/, "").split(/[+.;]/)[0].toUpperCase();
  if (type.startsWith("image/")) return short ? `${short} image` : "Image";
  if (type.startsWith("video/")) return short ? `${short} video` : "Video";
  if (type.startsWith("audio/")) return short ? `${short} audio` : "Audio";
  if (type === "application/pdf") return "PDF document";
  if (type.startsWith("text/")) return short ? `${short} text file` : "Text file";
  if (type === "application/zip" || type.endsWith("zip")) return "ZIP archive";
  return "File";
}

// A refusal message when the file is over the server's item limit, else null.
export function sizeProblem(client, file) {
  const max = client.info && client.info.max_item_bytes;
  if (!max || file.size <= max) return null;
  return `“${file.name}” is ${formatBytes(file.size)}: files can be at most ${formatBytes(max)}, so it was not uploaded.`;
}

// An upload progress bar: <progress max=total value=loaded> with "1.2 MB of 3.4 MB".
export function uploadProgress(name) {
  const bar = h("progress", { max: 1, value: 0, "aria-label": `Uploading ${name}` });
  const text = h("span", { class: "upload-text" }, "Waiting to upload…");
  const el = h("div", { class: "upload-progress", dataset: { upload: "" } }, h("span", { class: "upload-label" }, "Uploading"), bar, text);
  el.update = (loaded, total) => {
    bar.max = Math.max(total || 0, 1);
    bar.value = Math.min(loaded || 0, bar.max);
    text.textContent = `${formatBytes(loaded || 0)} of ${formatBytes(total || 0)}`;
  };
  return el;
}

// The stylesheet these views use, for pages whose template does not link it.
export function ensureStyles() {
  if (document.querySelector('link[rel="stylesheet"][href*="css/items"]')) return;
  document.head.append(h("link", { rel: "stylesheet", href: new URL("../../css/items.css", import.meta.url).href }));
}

// -- device names

let deviceNamesPromise = null;

function deviceNames() {
  if (!deviceNamesPromise) {
    deviceNamesPromise = api.all("/devices/").then(
      (devices) => new Map(devices.map((d) => [d.id, d.name])),
      (err) => {
        deviceNamesPromise = null; // offline: ask again next time
        throw err;
      },
    );
  }
  return deviceNamesPromise;
}

async function deviceLabel(client, item) {
  if (item.local || (client.device && item.device_id === client.device.id)) {
    return client.device && client.device.name ? `this browser (${client.device.name})` : "this browser";
  }
  if (!item.device_id) return "another device";
  try {
    return (await deviceNames()).get(item.device_id) || "another device";
  } catch {
    return "another device";
  }
}

// -- the view

const views = new WeakMap(); // container -> view state

function build(client, container, handoff) {
  ensureStyles();
  const view = {
    client,
    item: null,
    contentKey: null, // sha256 + version of the content shown
    url: null,
    generation: 0,
    progress: null,
  };
  const els = {};
  els.thumb = h("span", { class: "item-thumb item-thumb-lg", "aria-hidden": "true" });
  els.name = h("h1", { class: "binary-name" });
  els.download = h("a", { class: "btn btn-primary btn-sm", hidden: true, dataset: { download: "" } }, "Download");
  els.replaceInput = h("input", { type: "file", id: "binary-replace", class: "visually-hidden", dataset: { replaceInput: "" } });
  els.history = h("a", { class: "btn btn-secondary btn-sm", dataset: { historyLink: "" } }, "History");
  els.del = h("button", { type: "button", class: "btn btn-danger-outline btn-sm", dataset: { delete: "" } }, "Delete");
  els.conflict = h("div", { class: "alert alert-warning", hidden: true }, h("p", {}, "This file was also changed on another device. Both versions are kept. ", h("a", { href: "/conflicts/" }, "Review the conflict")));
  els.notice = h("div", { class: "alert alert-error", role: "alert", hidden: true });
  els.uploadSlot = h("div", { class: "binary-upload" });
  els.preview = h("div", { class: "binary-preview", dataset: { preview: "" } });
  els.size = h("dd");
  els.type = h("dd");
  els.modified = h("dd");
  els.device = h("dd");
  els.version = h("dd");
  els.sync = h("dd");
  container.replaceChildren(
    h(
      "article",
      { class: "binary-view", "aria-labelledby": "binary-name" },
      h(
        "div",
        { class: "binary-head" },
        h("div", { class: "binary-title" }, els.thumb, els.name),
        h(
          "div",
          { class: "btn-group binary-actions" },
          els.download,
          h("span", { class: "file-pick" }, els.replaceInput, h("label", { for: "binary-replace", class: "btn btn-secondary btn-sm" }, "Replace file…")),
          els.history,
          els.del,
        ),
      ),
      els.conflict,
      els.notice,
      els.uploadSlot,
      h(
        "div",
        { class: "binary-body" },
        els.preview,
        h(
          "dl",
          { class: "binary-meta" },
          h("div", {}, h("dt", {}, "Size"), els.size),
          h("div", {}, h("dt", {}, "Type"), els.type),
          h("div", {}, h("dt", {}, "Modified"), els.modified),
          h("div", {}, h("dt", {}, "Changed on"), els.device),
          h("div", {}, h("dt", {}, "Version"), els.version),
          h("div", {}, h("dt", {}, "Sync"), els.sync),
        ),
      ),
    ),
  );
  els.name.id = "binary-name";
  view.els = els;

  els.replaceInput.addEventListener("change", async () => {
    const file = els.replaceInput.files && els.replaceInput.files[0];
    els.replaceInput.value = "";
    if (!file || !view.item) return;
    const problem = sizeProblem(client, file);
    if (problem) {
      showNotice(view, problem);
      return;
    }
    showNotice(view, null);
    try {
      await client.addFile(file, { id: view.item.id, name: view.item.name });
    } catch (err) {
      showNotice(view, `“${file.name}” could not be read: ${err.message || err}`);
    }
  });

  els.del.addEventListener("click", async () => {
    const item = view.item;
    if (!item || !window.confirm(`Delete “${item.name}” on all your devices? Its history stays on the server.`)) return;
    await client.remove(item.id);
    if (handoff) await handoff.clear();
    location.assign("/items/");
  });

  client.addEventListener("upload", (e) => {
    const { itemId, loaded, total, done } = e.detail;
    if (!view.item || itemId !== view.item.id) return;
    showUpload(view, done ? null : { loaded, total });
  });
  // Back online: fetch what could not be fetched before.
  client.addEventListener("status", (e) => {
    if (e.detail.state === "synced" && view.item && view.failed) loadContent(view, true);
  });
  return view;
}

function showNotice(view, message) {
  view.els.notice.hidden = !message;
  view.els.notice.textContent = message || "";
}

function showUpload(view, progress) {
  if (!progress) {
    if (view.progress) view.progress.remove();
    view.progress = null;
    return;
  }
  if (!view.progress) {
    view.progress = uploadProgress(view.item.name);
    view.els.uploadSlot.append(view.progress);
  }
  view.progress.update(progress.loaded, progress.total);
}

function setPreview(view, ...children) {
  view.els.preview.replaceChildren(...children);
}

async function loadContent(view, force = false) {
  const { client, item, els } = view;
  const key = item.sha256 || `${item.id}:${item.version}`; // same content, same preview
  if (!force && key === view.contentKey) return;
  view.contentKey = key;
  view.failed = false;
  const generation = (view.generation += 1);
  const image = isImage(item);
  if (!view.url) setPreview(view, h("p", { class: "preview-status muted" }, "Loading the file…"));
  let blob;
  try {
    blob = await client.blobFor(item);
  } catch (err) {
    if (generation !== view.generation) return;
    view.failed = true;
    view.contentKey = null;
    if (view.url) URL.revokeObjectURL(view.url);
    view.url = null;
    els.download.hidden = true;
    els.download.removeAttribute("href");
    const message =
      err instanceof NetworkError
        ? "This file is not on this device yet; it will download when you are back online."
        : `The file could not be loaded: ${err.message || err}`;
    setPreview(view, h("span", { class: "preview-icon" }, icon(iconName(item), 48)), h("p", { class: "preview-status", dataset: { previewMessage: "" } }, message));
    return;
  }
  if (generation !== view.generation) return;
  const url = URL.createObjectURL(blob);
  if (view.url) URL.revokeObjectURL(view.url);
  view.url = url;
  els.download.href = url;
  els.download.download = item.name || "file";
  els.download.hidden = false;
  if (image) {
    const img = h("img", { src: url, alt: `Preview of ${item.name}`, decoding: "async" });
    img.addEventListener("error", () => setPreview(view, h("span", { class: "preview-icon" }, icon("image", 48)), h("p", { class: "preview-status muted" }, "This browser cannot show a preview of this image.")));
    setPreview(view, img);
  } else {
    setPreview(view, h("span", { class: "preview-icon" }, icon(iconName(item), 48)), h("p", { class: "preview-status muted" }, `No preview for this kind of file. Download it to open it.`));
  }
}

export async function renderBinary({ client, handoff, item, container }) {
  let view = views.get(container);
  if (!view) {
    view = build(client, container, handoff);
    views.set(container, view);
  }
  const previous = view.item;
  view.item = item;
  const { els } = view;
  const name = item.name || "Untitled file";
  document.title = `${name} · Cloud-Saves`;
  els.name.textContent = name;
  els.thumb.replaceChildren(icon(iconName(item), 28));
  els.thumb.dataset.kind = iconName(item);
  els.history.href = `/items/${item.id}/history/`;
  els.conflict.hidden = !item.has_conflict;
  els.size.textContent = formatBytes(item.size || 0);
  els.type.replaceChildren(describeType(item), " ", h("span", { class: "muted" }, `(${item.content_type || "unknown type"})`));
  els.modified.replaceChildren(timeEl(item.modified_at), h("span", { class: "muted" }, ` · ${formatDate(item.modified_at)}`));
  els.version.textContent = item.version ? String(item.version) : "Not on the server yet";
  if (item.sync_error) els.sync.replaceChildren(h("span", { class: "badge badge-danger" }, `Not saved: ${item.sync_error}`));
  else if (item.local) els.sync.replaceChildren(h("span", { class: "badge badge-warning" }, "Not synced yet"));
  else els.sync.replaceChildren(h("span", { class: "badge badge-success" }, "Synced"));
  if (els.download.getAttribute("href")) els.download.download = name;

  const upload = client.uploads && client.uploads.get(item.id);
  if (!previous || previous.id !== item.id) showUpload(view, upload || null);

  // The content loads in the background: the page is usable before a large file arrives.
  loadContent(view);
  // Which device wrote it: looked up without holding up the page.
  const writer = `${item.local ? "local" : item.device_id}`;
  if (view.writer !== writer) {
    view.writer = writer;
    if (!els.device.textContent) els.device.textContent = "…";
    deviceLabel(client, item).then((label) => {
      if (view.writer === writer) els.device.textContent = label.charAt(0).toUpperCase() + label.slice(1);
    });
  }
}
