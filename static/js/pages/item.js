// One item: the text editor (autosave, live updates that keep the caret, handoff) or,
// for files, the binary view.
import { api } from "../core/api.js";
import { takeResumeState } from "../core/handoff.js";
import { $, formatBytes, timeAgo, toast } from "../core/ui.js";

// Typing is saved (and sent) at once after a pause, then at most every AUTOSAVE_MS while
// it goes on: a single change reaches other devices without waiting, and a fast typist
// makes a few saves a second, not one a key.
const AUTOSAVE_MS = 250;

function itemIdFromPath() {
  const match = location.pathname.match(/^\/items\/([0-9a-f-]{36})\//);
  return match ? match[1] : null;
}

// Where a caret at `pos` in `before` lands in `after`: text before it that is unchanged
// keeps it in place; an edit before it shifts it by the edit's length.
export function mapCaret(before, after, pos) {
  let start = 0;
  const maxStart = Math.min(before.length, after.length);
  while (start < maxStart && before[start] === after[start]) start += 1;
  if (pos <= start) return pos;
  let endBefore = before.length;
  let endAfter = after.length;
  while (endBefore > start && endAfter > start && before[endBefore - 1] === after[endAfter - 1]) {
    endBefore -= 1;
    endAfter -= 1;
  }
  if (pos >= endBefore) return pos + (endAfter - endBefore);
  return endAfter; // inside the changed span: after what replaced it
}

// The open conflict of an item, for a direct link to its review (the list otherwise).
async function findConflict(itemId) {
  try {
    let page = await api.get("/conflicts/", { status: "open" });
    for (;;) {
      const match = page.results.find((c) => c.item_id === itemId);
      if (match || !page.next) return match ? match.id : null;
      page = await api.get(page.next);
    }
  } catch {
    return null; // offline: the list link stays
  }
}

export async function mount({ client, handoff, root }) {
  const id = itemIdFromPath();
  const el = {
    root: $("[data-item-root]", root),
    loading: $("[data-loading]", root),
    missing: $("[data-missing]", root),
    editor: $("[data-editor]", root),
    name: $("[data-name]", root),
    text: $("[data-text]", root),
    state: $("[data-save-state]", root),
    meta: $("[data-meta]", root),
    history: $("[data-history-link]", root),
    conflictLink: $("[data-conflict-link]", root),
    conflictNote: $("[data-conflict-note]", root),
    del: $("[data-delete]", root),
    binary: $("[data-binary]", root),
  };
  let item = null;
  // What the editor last took from the local copy: if the copy changes under unsaved
  // typing (another device's edit arrived), the typing still derives from this.
  let shownContent = null;
  let shownBase = null;
  let saving = false; // a save is on its way to the local copy
  let stale = false; // the copy changed while the editor could not show it
  let dirty = false; // typed but not yet saved locally
  let saveTimer = null;
  let lastSave = 0;
  let binaryView = null;
  let conflictLookup = null; // the pending look-up of this item's open conflict

  // Replace the editor's text, keeping the caret and selection where they were relative
  // to the text around them, and the scroll position.
  const showText = (text) => {
    if (el.text.value === text) return;
    const before = el.text.value;
    const hadFocus = document.activeElement === el.text;
    const [start, end, scroll] = [el.text.selectionStart, el.text.selectionEnd, el.text.scrollTop];
    el.text.value = text;
    if (hadFocus) el.text.setSelectionRange(mapCaret(before, text, start), mapCaret(before, text, end));
    el.text.scrollTop = scroll;
  };

  const setSaveState = (state, text) => {
    el.state.dataset.state = state;
    el.state.textContent = text;
  };

  const describe = () => {
    if (!item) return;
    const parts = [`${formatBytes(item.size || 0)}`, `edited ${timeAgo(item.modified_at)}`];
    if (item.version) parts.push(`version ${item.version}`);
    el.meta.textContent = parts.join(" · ");
    el.history.href = `/items/${item.id}/history/`;
    el.conflictLink.hidden = !item.has_conflict;
    el.conflictNote.hidden = !item.has_conflict;
    if (!item.has_conflict) conflictLookup = null;
    if (item.has_conflict) {
      if (!conflictLookup) {
        el.conflictLink.href = "/conflicts/";
        conflictLookup = findConflict(item.id).then((conflictId) => {
          if (conflictId) el.conflictLink.href = `/conflicts/${conflictId}/`;
          else conflictLookup = null; // offline, or not listed yet: look again next time
        });
      }
      el.conflictNote.textContent = "This note was also changed on another device in the same place. Both versions are kept — review them to decide.";
    }
    document.title = `${item.name || "Untitled"} · Cloud-Saves`;
  };

  const showSynced = () => {
    if (dirty) return;
    if (item && item.local) setSaveState("local", client.state === "offline" ? "Saved on this device" : "Saving…");
    else if (item && item.sync_error) setSaveState("error", `Not saved: ${item.sync_error}`);
    else setSaveState("saved", "Saved");
  };

  // Saving hands the text to the local copy with the text it was typed on (`shownContent`);
  // if the copy has changed since, the store carries the typing over (Store.recordText).
  // While typing is unsaved or a save is on its way the editor leaves the text alone, and
  // shows the copy again once saved.
  const save = async () => {
    clearTimeout(saveTimer);
    saveTimer = null;
    if (!dirty || saving) return; // a save on its way schedules the next when it is done
    saving = true;
    dirty = false;
    lastSave = Date.now();
    setSaveState("saving", "Saving…");
    const content = el.text.value;
    try {
      item = await client.saveText(id, {
        content,
        name: el.name.value.trim() || "Untitled note",
        derivedFrom: shownContent === null ? undefined : { content: shownContent, version: shownBase },
      });
    } finally {
      saving = false;
    }
    shownBase = item.base_version ?? null;
    if (dirty) {
      // Typed on while saving: that typing continues what was just saved.
      shownContent = content;
      scheduleSave();
    } else {
      showText(item.content);
      shownContent = item.content;
      if (stale) {
        stale = false;
        await render(await client.item(id));
      }
    }
    showSynced();
    describe();
  };

  const scheduleSave = () => {
    dirty = true;
    setSaveState("editing", "Editing…");
    if (saveTimer) return; // already due
    saveTimer = setTimeout(save, Math.max(0, lastSave + AUTOSAVE_MS - Date.now()));
  };

  const publish = () => {
    if (!item || item.kind !== "text" || !item.version) return;
    handoff.publish(item.id, item.version, {
      caret: el.text.selectionStart,
      selection_end: el.text.selectionEnd,
      scroll: el.text.scrollTop,
      window_scroll: window.scrollY,
    });
  };

  const applyState = (state) => {
    if (!state) return;
    el.text.focus();
    const len = el.text.value.length;
    const caret = Math.min(Number(state.caret) || 0, len);
    const end = Math.min(Number(state.selection_end ?? caret) || caret, len);
    el.text.setSelectionRange(caret, Math.max(caret, end));
    if (typeof state.scroll === "number") el.text.scrollTop = state.scroll;
    if (typeof state.window_scroll === "number") window.scrollTo(0, state.window_scroll);
  };

  // Show the stored item; keep what the user is typing, and keep the caret where it was
  // relative to the text around it when another device's change arrives.
  const render = async (fresh) => {
    item = fresh;
    el.loading.hidden = true;
    el.root.setAttribute("aria-busy", "false");
    if (!item || item.deleted) {
      el.editor.hidden = true;
      el.binary.hidden = true;
      el.missing.hidden = false;
      if (item && item.deleted) $("h1", el.missing).textContent = "This item was deleted";
      return;
    }
    el.missing.hidden = true;
    if (item.kind === "binary") {
      el.editor.hidden = true;
      el.binary.hidden = false;
      binaryView = binaryView || (await import("./binary_view.js"));
      await binaryView.renderBinary({ client, handoff, item, container: el.binary });
      return;
    }
    el.editor.hidden = false;
    if (document.activeElement !== el.name) el.name.value = item.name || "";
    if (dirty || saving) {
      stale = true; // shown once the typing is saved (and carried onto this text)
    } else {
      showText(item.content || "");
      shownContent = item.content;
      shownBase = item.base_version ?? null;
    }
    describe();
    showSynced();
  };

  await render(await client.item(id));

  el.text.addEventListener("input", scheduleSave);
  el.name.addEventListener("input", scheduleSave);
  el.text.addEventListener("blur", save);
  el.name.addEventListener("blur", save);
  for (const type of ["keyup", "click", "select", "scroll"]) el.text.addEventListener(type, publish, { passive: true });
  el.text.addEventListener("focus", publish);
  window.addEventListener("pagehide", save);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") save();
  });
  el.del.addEventListener("click", async () => {
    if (!item || !window.confirm(`Delete “${item.name}” on all your devices? Its history stays on the server.`)) return;
    await client.remove(id);
    await handoff.clear();
    location.assign("/items/");
  });

  client.addEventListener("items", async (e) => {
    if (!e.detail.items.some((changed) => changed.id === id)) return;
    await render(await client.item(id));
  });
  client.addEventListener("status", showSynced);

  // Opened from a handoff: put the caret and scroll where the other device had them.
  const resume = () => applyState(takeResumeState(id));
  window.addEventListener("cloudsaves:resume", resume);
  resume();

  // Not in the local copy yet (a link from another device, a first visit): sync, then look again.
  if (!item) {
    el.loading.hidden = false;
    el.missing.hidden = true;
    try {
      await client.syncNow();
    } catch {
      /* offline: the missing state says so */
    }
    await render(await client.item(id));
    resume();
  }
  if (item && item.kind === "text") publish();
}
