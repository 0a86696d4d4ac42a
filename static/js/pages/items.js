// The items list (/items/): every note and file in this browser's copy, with search,
// filters and sorting, a new note, and uploads by file picker or drag and drop with a
// progress bar per file. Renders from IndexedDB at once and again on every change the
// sync client applies; rows are kept by id, so focus and scroll survive live updates.
import { $, compareNames, formatBytes, h, timeAgo, timeEl } from "../core/ui.js";
import { describeType, icon, iconName, isImage, sizeProblem, uploadProgress } from "./binary_view.js";

const RENDER_DEBOUNCE_MS = 50;
const SNIPPET_CHARS = 140;
const SORTS = { newest: "Newest first", oldest: "Oldest first", name: "Name (A–Z)" };
const KINDS = { all: "All", text: "Notes", binary: "Files" };

function readFilters() {
  const params = new URLSearchParams(location.search);
  return {
    q: params.get("q") || "",
    kind: KINDS[params.get("kind")] ? params.get("kind") : "all",
    conflicts: params.get("conflicts") === "1",
    sort: SORTS[params.get("sort")] ? params.get("sort") : "newest",
  };
}

function writeFilters(filters) {
  const params = new URLSearchParams();
  if (filters.q) params.set("q", filters.q);
  if (filters.kind !== "all") params.set("kind", filters.kind);
  if (filters.conflicts) params.set("conflicts", "1");
  if (filters.sort !== "newest") params.set("sort", filters.sort);
  const qs = params.toString();
  history.replaceState(history.state, "", `${location.pathname}${qs ? `?${qs}` : ""}`);
}

function fold(text) {
  return (text || "").toLocaleLowerCase();
}

// A line of a note to show under its name: around the search match, else its start.
function snippet(item, query) {
  const text = (item.content || "").replace(/\s+/g, " ").trim();
  if (!text) return "";
  if (query) {
    const at = fold(text).indexOf(query);
    if (at > 40) {
      const start = text.lastIndexOf(" ", at - 30) + 1;
      return `…${text.slice(start, start + SNIPPET_CHARS)}${start + SNIPPET_CHARS < text.length ? "…" : ""}`;
    }
  }
  return text.length > SNIPPET_CHARS ? `${text.slice(0, SNIPPET_CHARS)}…` : text;
}

function byName(a, b) {
  return compareNames(a.name, b.name);
}

function byModified(a, b) {
  const x = a.modified_at || "";
  const y = b.modified_at || "";
  return x < y ? -1 : x > y ? 1 : byName(a, b);
}

export async function mount({ client, root }) {
  const host = $("[data-items-root]", root);
  const dropZone = $("[data-drop-zone]", root);
  const dropHint = $("[data-drop-hint]", root);
  const fileInput = $("[data-upload-input]", root);
  const newNoteButton = $("[data-new-note]", root);

  const filters = readFilters();
  let all = [];
  const rows = new Map(); // item id -> {el, sig}
  const thumbs = new Map(); // item id -> {sha, url} object URLs of image thumbnails
  const loadingThumbs = new Map(); // item id -> sha being fetched
  const uploads = new Map(client.uploads || []); // item id -> {loaded, total}

  // -- the furniture, built once (the search box is never rebuilt)

  const search = h("input", { type: "search", id: "items-search", class: "input", placeholder: "Search names and notes", autocomplete: "off", spellcheck: "false" });
  search.value = filters.q;
  const kindInputs = Object.entries(KINDS).map(([value, label]) => {
    const input = h("input", { type: "radio", name: "items-kind", id: `items-kind-${value}`, value });
    input.checked = filters.kind === value;
    return [input, h("label", { for: `items-kind-${value}` }, label)];
  });
  const conflictsOnly = h("input", { type: "checkbox", id: "items-conflicts" });
  conflictsOnly.checked = filters.conflicts;
  const sort = h("select", { id: "items-sort", class: "input" }, ...Object.entries(SORTS).map(([value, label]) => h("option", { value }, label)));
  sort.value = filters.sort;

  const toolbar = h(
    "form",
    { class: "items-toolbar", role: "search", "aria-label": "Notes and files", onsubmit: (e) => e.preventDefault() },
    h(
      "div",
      { class: "toolbar-search" },
      h("label", { for: "items-search", class: "visually-hidden" }, "Search notes and files"),
      h("span", { class: "search-icon", "aria-hidden": "true" }, searchIcon()),
      search,
    ),
    h("fieldset", { class: "segmented" }, h("legend", { class: "visually-hidden" }, "Show"), ...kindInputs.flat()),
    h("div", { class: "toggle-chip" }, conflictsOnly, h("label", { for: "items-conflicts" }, "Has conflict")),
    h("div", { class: "toolbar-sort" }, h("label", { for: "items-sort" }, "Sort"), sort),
  );
  const notice = h("div", { class: "alert alert-error upload-notice", role: "alert", hidden: true, dataset: { uploadNotice: "" } });
  const count = h("p", { class: "items-count", role: "status", "aria-live": "polite" });
  const list = h("ul", { class: "item-list", "aria-label": "Notes and files", dataset: { itemList: "" } });
  const empty = h(
    "div",
    { class: "empty items-empty", hidden: true, dataset: { empty: "" } },
    h("span", { class: "feature-icon", "aria-hidden": "true" }, icon("note", 28)),
    h("h2", {}, "Nothing here yet"),
    h("p", {}, "Create a note or drop a file here. Everything you add is kept on this device and syncs to your other devices."),
    h(
      "div",
      { class: "btn-group items-empty-actions" },
      h("button", { type: "button", class: "btn btn-primary", onclick: () => newNote() }, "Create a note"),
      h("button", { type: "button", class: "btn btn-secondary", onclick: () => fileInput.click() }, "Choose files…"),
    ),
  );
  const noMatch = h(
    "div",
    { class: "empty items-no-match", hidden: true, dataset: { noMatch: "" } },
    h("h2", {}, "Nothing matches"),
    h("p", { dataset: { noMatchText: "" } }),
    h("button", { type: "button", class: "btn btn-secondary", onclick: () => clearFilters() }, "Clear search and filters"),
  );

  // -- rendering

  const rowSig = (item, query) =>
    [item.name, item.kind, item.content_type, item.size, item.modified_at, item.has_conflict, item.local, item.sync_error, item.sha256, item.kind === "text" ? snippet(item, query) : "", thumbs.get(item.id)?.url].join("\u0000");

  const matches = (item, query) => {
    if (filters.kind !== "all" && item.kind !== filters.kind) return false;
    if (filters.conflicts && !item.has_conflict) return false;
    if (!query) return true;
    return fold(item.name).includes(query) || (item.kind === "text" && fold(item.content).includes(query));
  };

  function buildRow(item, query) {
    const href = `/items/${item.id}/`;
    const thumb = h("span", { class: "item-thumb", dataset: { kind: iconName(item) } });
    const cached = thumbs.get(item.id);
    if (isImage(item) && cached && cached.sha === item.sha256) {
      thumb.append(thumbImg(item, cached.url));
      thumb.classList.add("has-image");
    } else {
      thumb.append(icon(iconName(item)));
      if (isImage(item)) thumb.dataset.thumbPending = item.id;
    }
    const meta = h(
      "p",
      { class: "item-meta" },
      h("span", {}, describeType(item)),
      h("span", { class: "sep", "aria-hidden": "true" }, "·"),
      h("span", {}, formatBytes(item.size || 0)),
      h("span", { class: "sep sep-time", "aria-hidden": "true" }, "·"),
      h("span", { class: "item-time" }, "Edited ", timeEl(item.modified_at)),
    );
    const flags = [];
    if (item.has_conflict) {
      flags.push(h("a", { class: "badge badge-danger item-flag", href: "/conflicts/", "aria-label": `Conflict in ${item.name}: review conflicts` }, "Conflict"));
    }
    if (item.sync_error) flags.push(h("span", { class: "badge badge-danger", title: item.sync_error }, "Not saved"));
    else if (item.local) flags.push(h("span", { class: "badge badge-warning", dataset: { unsynced: "" } }, "Not synced yet"));
    const text = item.kind === "text" ? snippet(item, query) : "";
    const main = h(
      "div",
      { class: "item-main" },
      h("a", { class: "item-name", href, dataset: { focusKey: `name:${item.id}` } }, item.name || "Untitled"),
      meta,
      text ? h("p", { class: "item-snippet" }, text) : null,
    );
    const el = h("li", { class: "item-row", dataset: { id: item.id, kind: item.kind } }, thumb, main, flags.length ? h("div", { class: "item-flags" }, flags) : null);
    const upload = uploads.get(item.id);
    if (upload) attachProgress(el, item, upload);
    return el;
  }

  function thumbImg(item, url) {
    const img = h("img", { src: url, alt: "", decoding: "async" });
    img.addEventListener("error", () => {
      const thumb = img.parentElement;
      if (!thumb) return;
      thumb.classList.remove("has-image");
      img.replaceWith(icon("image"));
    });
    return img;
  }

  function attachProgress(rowEl, item, progress) {
    let bar = $("[data-upload]", rowEl);
    if (!bar) {
      bar = uploadProgress(item.name || "file");
      $(".item-main", rowEl).append(bar);
      rowEl.classList.add("is-uploading");
    }
    bar.update(progress.loaded, progress.total);
  }

  function render() {
    const query = fold(search.value.trim());
    const shown = all.filter((item) => matches(item, query));
    if (filters.sort === "name") shown.sort(byName);
    else if (filters.sort === "oldest") shown.sort(byModified);
    else shown.sort((a, b) => byModified(b, a));

    // Keep focus on the same control across the update.
    const active = document.activeElement;
    const focusKey = active && list.contains(active) ? active.dataset.focusKey : null;

    const seen = new Set();
    for (const item of shown) seen.add(item.id);
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.el.remove();
        rows.delete(id);
      }
    }
    // Walk the list once in the wanted order, moving only rows that are out of place
    // (indexing list.children after each move would make a long list quadratic).
    let next = list.firstChild;
    for (const item of shown) {
      const sig = rowSig(item, query);
      let row = rows.get(item.id);
      if (!row || row.sig !== sig) {
        const el = buildRow(item, query);
        if (row) {
          if (next === row.el) next = el;
          row.el.replaceWith(el);
        }
        row = { el, sig };
        rows.set(item.id, row);
      }
      if (next === row.el) next = next.nextSibling;
      else list.insertBefore(row.el, next);
    }
    if (focusKey && document.activeElement !== active) {
      const again = list.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus({ preventScroll: true });
    }

    const none = all.length === 0;
    toolbar.hidden = none;
    empty.hidden = !none;
    noMatch.hidden = none || shown.length > 0;
    list.hidden = shown.length === 0;
    if (!none && !shown.length) {
      const why = [];
      if (query) why.push(`“${search.value.trim()}”`);
      if (filters.kind !== "all") why.push(filters.kind === "text" ? "notes only" : "files only");
      if (filters.conflicts) why.push("with conflicts");
      $("[data-no-match-text]", noMatch).textContent = `No notes or files match ${why.join(", ") || "these filters"}. ${all.length} item${all.length === 1 ? " is" : "s are"} hidden by the filters.`;
    }
    const total = `${all.length} item${all.length === 1 ? "" : "s"}`;
    count.textContent = none ? "" : shown.length === all.length ? total : `Showing ${shown.length} of ${total}`;
    count.hidden = none;

    updateThumbs();
  }

  // -- thumbnails: fetched when their row scrolls into view, object URLs revoked when
  // the item goes away or its content changes

  const observer =
    "IntersectionObserver" in window
      ? new IntersectionObserver(
          (entries) => {
            for (const entry of entries) {
              if (!entry.isIntersecting) continue;
              observer.unobserve(entry.target);
              loadThumb(entry.target.dataset.thumbPending);
            }
          },
          { rootMargin: "200px" },
        )
      : null;

  function updateThumbs() {
    const live = new Map(all.map((item) => [item.id, item]));
    for (const [id, thumb] of thumbs) {
      const item = live.get(id);
      if (!item || item.sha256 !== thumb.sha) {
        URL.revokeObjectURL(thumb.url);
        thumbs.delete(id);
      }
    }
    for (const el of list.querySelectorAll("[data-thumb-pending]")) {
      if (observer) observer.observe(el);
      else loadThumb(el.dataset.thumbPending);
    }
  }

  async function loadThumb(id) {
    const item = all.find((i) => i.id === id);
    if (!item || !isImage(item) || loadingThumbs.get(id) === item.sha256) return;
    loadingThumbs.set(id, item.sha256);
    let blob;
    try {
      blob = await client.blobFor(item);
    } catch {
      return; // offline and never fetched: the generic icon stays
    } finally {
      loadingThumbs.delete(id);
    }
    const current = all.find((i) => i.id === id);
    if (!current || current.sha256 !== item.sha256) return;
    const old = thumbs.get(id);
    if (old) URL.revokeObjectURL(old.url);
    thumbs.set(id, { sha: item.sha256, url: URL.createObjectURL(blob) });
    render();
  }

  // -- refreshing from the local copy

  let timer = null;
  let refreshing = false;
  let again = false;

  async function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      all = await client.items();
      render();
    } finally {
      refreshing = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }

  const schedule = (delay = RENDER_DEBOUNCE_MS) => {
    clearTimeout(timer);
    timer = setTimeout(refresh, delay);
  };

  // -- actions

  async function newNote() {
    newNoteButton.disabled = true;
    const id = crypto.randomUUID();
    try {
      await client.saveText(id, { content: "", name: "Untitled note" });
      location.assign(`/items/${id}/`);
    } finally {
      newNoteButton.disabled = false;
    }
  }

  function showNotice(messages) {
    notice.replaceChildren();
    notice.hidden = !messages.length;
    if (!messages.length) return;
    notice.append(
      h("div", { class: "alert-body" }, messages.map((m) => h("p", {}, m))),
      h("button", { type: "button", class: "alert-close", "aria-label": "Dismiss", onclick: () => showNotice([]) }, "×"),
    );
  }

  async function uploadFiles(fileList) {
    const files = [...(fileList || [])];
    if (!files.length) return;
    const problems = [];
    for (const file of files) {
      const problem = sizeProblem(client, file);
      if (problem) {
        problems.push(problem);
        continue;
      }
      try {
        const item = await client.addFile(file);
        if (!uploads.has(item.id)) uploads.set(item.id, { loaded: 0, total: file.size });
      } catch (err) {
        problems.push(`“${file.name}” could not be read (folders cannot be uploaded): ${err.message || err}`);
      }
    }
    showNotice(problems);
    schedule(0);
  }

  function clearFilters() {
    search.value = "";
    filters.q = "";
    filters.kind = "all";
    filters.conflicts = false;
    conflictsOnly.checked = false;
    for (const [input] of kindInputs) input.checked = input.value === "all";
    writeFilters(filters);
    render();
    search.focus();
  }

  // -- wiring

  host.replaceChildren(toolbar, notice, count, list, noMatch, empty);
  all = await client.items();
  render();
  host.setAttribute("aria-busy", "false");

  search.addEventListener("input", () => {
    filters.q = search.value.trim();
    writeFilters(filters);
    render();
  });
  for (const [input] of kindInputs) {
    input.addEventListener("change", () => {
      if (!input.checked) return;
      filters.kind = input.value;
      writeFilters(filters);
      render();
    });
  }
  conflictsOnly.addEventListener("change", () => {
    filters.conflicts = conflictsOnly.checked;
    writeFilters(filters);
    render();
  });
  sort.addEventListener("change", () => {
    filters.sort = sort.value;
    writeFilters(filters);
    render();
  });
  newNoteButton.addEventListener("click", newNote);
  fileInput.addEventListener("change", async () => {
    const files = [...fileInput.files];
    fileInput.value = "";
    await uploadFiles(files);
  });

  client.addEventListener("items", () => schedule());
  client.addEventListener("upload", (e) => {
    const { itemId, loaded, total, done } = e.detail;
    const row = rows.get(itemId);
    if (done) {
      uploads.delete(itemId);
      if (row) {
        const bar = $("[data-upload]", row.el);
        if (bar) bar.remove();
        row.el.classList.remove("is-uploading");
      }
      return;
    }
    uploads.set(itemId, { loaded, total });
    const item = all.find((i) => i.id === itemId);
    if (row && item) attachProgress(row.el, item, { loaded, total });
    else schedule(0); // a row not shown yet: show it now, with its bar
  });

  // Drag and drop anywhere on the page; the list area lights up while files hover.
  let dragDepth = 0;
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
  const setDragging = (on) => {
    dropZone.classList.toggle("is-dragover", on);
    dropHint.hidden = !on;
  };
  document.addEventListener("dragenter", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth += 1;
    setDragging(true);
  });
  document.addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    setDragging(true);
  });
  document.addEventListener("dragleave", (e) => {
    if (!hasFiles(e)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) setDragging(false);
  });
  document.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth = 0;
    setDragging(false);
    uploadFiles(e.dataTransfer.files);
  });

  // "5 minutes ago" stays true while the page is open.
  setInterval(() => {
    for (const time of list.querySelectorAll("time[datetime]")) time.textContent = timeAgo(time.getAttribute("datetime"));
  }, 60_000);
}

function searchIcon() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  for (const [k, v] of Object.entries({ width: 18, height: 18, viewBox: "0 0 24 24", fill: "none", stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round", focusable: "false" })) {
    svg.setAttribute(k, v);
  }
  svg.innerHTML = '<circle cx="11" cy="11" r="7"/><path d="m20 20-3.5-3.5"/>';
  return svg;
}
