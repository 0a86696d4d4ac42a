// Shared pieces of the history and conflict pages: text diffs rendered with <ins>/<del>
// (each carrying visually-hidden "added"/"removed" words, so the change is not told by
// colour alone), a naive three-way combination for a merged text to start from, and the
// words, device names and network states these server-side pages share.
import { diffLines, diffWordsWithSpace } from "../../vendor/diff-8.0.2/index.js";
import { api, NetworkError } from "./api.js";
import { b64ToBlob } from "./sync.js";
import { h } from "./ui.js";

// A diff gives up after this long and falls back to lines, then to "all replaced":
// a page must never hang on a huge note.
const DIFF_TIMEOUT_MS = 400;
// Unchanged runs longer than this many lines are folded, keeping CONTEXT lines each side.
const FOLD_LINES = 8;
const CONTEXT = 3;

// -- diffs --------------------------------------------------------------------------------

// The parts turning `before` into `after`: [{value, added, removed}], words where that is
// affordable, else lines.
export function diffParts(before, after) {
  before = before || "";
  after = after || "";
  if (before === after) return before ? [{ value: before, added: false, removed: false }] : [];
  const words = before.length + after.length < 400000 ? diffWordsWithSpace(before, after, { timeout: DIFF_TIMEOUT_MS }) : undefined;
  if (words) return words;
  const lines = diffLines(before, after, { timeout: DIFF_TIMEOUT_MS });
  if (lines) return lines;
  return [
    { value: before, removed: true, added: false },
    { value: after, added: true, removed: false },
  ].filter((p) => p.value);
}

function countWords(text) {
  const words = text.match(/\S+/g);
  return words ? words.length : 0;
}

export function diffStats(parts) {
  let added = 0;
  let removed = 0;
  for (const part of parts) {
    if (part.added) added += countWords(part.value) || (part.value ? 1 : 0);
    else if (part.removed) removed += countWords(part.value) || (part.value ? 1 : 0);
  }
  return { added, removed, same: added === 0 && removed === 0 };
}

export function statsText({ added, removed, same }) {
  if (same) return "No differences";
  const words = (n) => `${n} word${n === 1 ? "" : "s"}`;
  const bits = [];
  if (added) bits.push(`${words(added)} added`);
  if (removed) bits.push(`${words(removed)} removed`);
  return bits.join(", ");
}

// Inserted or removed text that is only whitespace would be invisible: newlines get a
// visible mark (hidden from screen readers, which hear "added"/"removed" already).
function changedText(value) {
  if (/\S/.test(value) || !value.includes("\n")) return [value];
  const out = [];
  for (const [i, piece] of value.split("\n").entries()) {
    if (i > 0) out.push(h("span", { class: "diff-nl", "aria-hidden": "true" }, "↵"), "\n");
    if (piece) out.push(piece);
  }
  return out;
}

function unchangedRun(value, { first, last }) {
  const lines = value.split("\n");
  if (lines.length <= FOLD_LINES + 2 * CONTEXT) return [value];
  const head = first ? 0 : CONTEXT;
  const tail = last ? 0 : CONTEXT;
  if (lines.length - head - tail <= FOLD_LINES) return [value];
  const kept = [lines.slice(0, head).join("\n") + (head ? "\n" : ""), lines.slice(lines.length - tail).join("\n")];
  const hidden = lines.slice(head, lines.length - tail).join("\n") + (tail ? "\n" : "");
  const count = lines.length - head - tail;
  const fold = h("button", { type: "button", class: "diff-fold" }, `Show ${count} unchanged line${count === 1 ? "" : "s"}`);
  fold.addEventListener("click", () => {
    fold.replaceWith(document.createTextNode(hidden));
  });
  return [kept[0], fold, kept[1]];
}

// The parts as one element: unchanged text plain (long runs folded), insertions in
// <ins>, deletions in <del>.
export function renderParts(parts, { fold = true, label = "Differences" } = {}) {
  const body = h("div", { class: "diff-body" });
  parts.forEach((part, i) => {
    if (part.added) {
      body.append(h("ins", {}, h("span", { class: "visually-hidden" }, " [added: "), ...changedText(part.value), h("span", { class: "visually-hidden" }, "] ")));
    } else if (part.removed) {
      body.append(h("del", {}, h("span", { class: "visually-hidden" }, " [removed: "), ...changedText(part.value), h("span", { class: "visually-hidden" }, "] ")));
    } else if (fold) {
      body.append(...unchangedRun(part.value, { first: i === 0, last: i === parts.length - 1 }));
    } else {
      body.append(part.value);
    }
  });
  if (!parts.length) body.append(h("span", { class: "muted" }, "(empty)"));
  return h("div", { class: "diff", role: "group", "aria-label": label }, body);
}

export function renderDiff(before, after, options = {}) {
  const parts = diffParts(before, after);
  const view = renderParts(parts, options);
  return { view, stats: diffStats(parts), parts };
}

export function diffLegend(addedText = "added", removedText = "removed") {
  return h(
    "p",
    { class: "diff-legend" },
    h("span", {}, h("ins", { "aria-hidden": "true" }, "text"), " ", addedText),
    h("span", {}, h("del", { "aria-hidden": "true" }, "text"), " ", removedText),
  );
}

// -- a naive three-way combination ------------------------------------------------------

function splitLines(text) {
  return text ? text.split(/(?<=\n)/) : [];
}

// A side's changes to the base as chunks of base lines [start, end) replaced by `lines`.
function chunks(baseLines, sideText, baseText) {
  const parts = diffLines(baseText, sideText) || [];
  const out = [];
  let pos = 0;
  let open = null;
  for (const part of parts) {
    const lines = splitLines(part.value);
    if (part.added || part.removed) {
      if (!open) open = { start: pos, end: pos, lines: [] };
      if (part.removed) {
        pos += lines.length;
        open.end = pos;
      } else {
        open.lines.push(...lines);
      }
    } else {
      if (open) out.push(open);
      open = null;
      pos += lines.length;
    }
  }
  if (open) out.push(open);
  return out;
}

function applyChunks(baseLines, start, end, list) {
  const out = [];
  let pos = start;
  for (const c of list) {
    out.push(...baseLines.slice(pos, c.start), ...c.lines);
    pos = c.end;
  }
  out.push(...baseLines.slice(pos, end));
  return out;
}

// Both sides' changes applied to the base, line by line; where both changed the same
// lines, the server's lines then the incoming ones. A starting point to edit, no more.
export function combine(base, server, incoming) {
  base = base || "";
  const baseLines = splitLines(base);
  const a = chunks(baseLines, server || "", base).map((c) => ({ ...c, side: "a" }));
  const b = chunks(baseLines, incoming || "", base).map((c) => ({ ...c, side: "b" }));
  const all = [...a, ...b].sort((x, y) => x.start - y.start || x.end - y.end);
  const out = [];
  let pos = 0;
  let i = 0;
  while (i < all.length) {
    // A region: chunks that overlap or touch the same insertion point.
    const region = [all[i]];
    const start = all[i].start;
    let end = all[i].end;
    i += 1;
    // Chunks join the region when they overlap it, start where it starts, or insert
    // right at its end.
    while (i < all.length && (all[i].start < end || all[i].start === start || (all[i].start === end && all[i].end === end))) {
      end = Math.max(end, all[i].end);
      region.push(all[i]);
      i += 1;
    }
    out.push(...baseLines.slice(pos, start));
    const ours = region.filter((c) => c.side === "a");
    const theirs = region.filter((c) => c.side === "b");
    const mine = applyChunks(baseLines, start, end, ours);
    if (!theirs.length) out.push(...mine);
    else if (!ours.length) out.push(...applyChunks(baseLines, start, end, theirs));
    else {
      const other = applyChunks(baseLines, start, end, theirs);
      if (mine.join("") === other.join("")) out.push(...mine);
      else {
        const first = mine.join("");
        out.push(first && !first.endsWith("\n") ? `${first}\n` : first, ...other);
      }
    }
    pos = end;
  }
  out.push(...baseLines.slice(pos));
  return out.join("");
}

// -- words ----------------------------------------------------------------------------------

export const ORIGIN_WORDS = {
  create: "Created",
  edit: "Edited",
  merge: "Merged automatically",
  restore: "Restored",
  resolve: "Conflict resolved",
  delete: "Deleted",
};

export function originText(version) {
  if (version.origin === "restore" && version.merge_parent) return `Restored version ${version.merge_parent}`;
  if (version.origin === "resolve" && version.merge_parent) return `Conflict resolved with version ${version.merge_parent}`;
  return ORIGIN_WORDS[version.origin] || version.origin;
}

export const REASON_WORDS = {
  overlapping_edits: "Both devices changed the same part",
  newest_wins: "Changed on two devices: the newest file was kept",
  edit_wins_over_delete: "Edited on one device, deleted on another: the edit was kept",
  merged: "Edits from two devices were merged",
};

export const RESOLUTION_WORDS = {
  server: "kept the version that was on the server",
  incoming: "kept the version that arrived later",
  both: "kept both (the other as a conflicted copy)",
  merged: "saved a merged text",
};

// -- devices ------------------------------------------------------------------------------

// Device id -> {name, current} for the caller's live devices; a removed device is not
// listed (revoked devices keep their versions, not their names).
export async function loadDevices() {
  const map = new Map();
  for (const d of await api.all("/devices/")) map.set(d.id, d);
  return map;
}

export function deviceName(devices, id, fallback = null) {
  if (!id) return fallback || "a removed device";
  const d = devices && devices.get(id);
  if (d) return d.current ? `${d.name} (this browser)` : d.name;
  return fallback || "a removed device";
}

// -- content -----------------------------------------------------------------------------

// A binary version's bytes: inline content_b64, else its content URL, else the numbered
// version's URL. Null when there is no way to fetch it (a large kept-aside version).
export async function versionBlob(itemId, version) {
  if (!version) return null;
  if (version.content_b64 !== undefined) return b64ToBlob(version.content_b64, version.content_type);
  const url = version.content_url || (version.number ? `/api/v1/items/${itemId}/versions/${version.number}/content` : null);
  if (!url) return null;
  return api.blob(url);
}

export function isImage(contentType) {
  return /^image\/(png|jpe?g|gif|webp|avif|bmp|svg\+xml)$/i.test(contentType || "");
}

// -- the network states of server-side pages -------------------------------------------

export function isOffline(err) {
  return err instanceof NetworkError || !navigator.onLine;
}

// A panel for a page that could not load: offline (retried when the client is synced
// again) or an error with a retry button.
export function problemPanel({ offline, what, error, retry }) {
  if (offline) {
    return h(
      "div",
      { class: "empty review-problem", role: "status" },
      h("h2", {}, `${what} needs a connection — you are offline`),
      h("p", {}, "It lives on the server. This page will load by itself as soon as this browser is back online."),
      h("button", { type: "button", class: "btn btn-secondary", onclick: retry }, "Try again"),
    );
  }
  return h(
    "div",
    { class: "empty review-problem", role: "alert" },
    h("h2", {}, `${what} could not be loaded`),
    h("p", {}, error && error.message ? error.message : "Something went wrong on the server."),
    h("button", { type: "button", class: "btn btn-secondary", onclick: retry }, "Try again"),
  );
}

// Calls `load` again whenever the client gets back to "synced" while `isWaiting()`.
export function retryWhenSynced(client, isWaiting, load) {
  client.addEventListener("status", (e) => {
    if (e.detail.state === "synced" && isWaiting()) load();
  });
}

export function loadingPanel(text = "Loading…") {
  return h("p", { class: "loading review-loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}
