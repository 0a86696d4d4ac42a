// One conflict: both sides (and the original they started from), and the decision: keep
// one side, keep both (the other becomes a conflicted copy), or save a merged text.
// Resolving an automatic decision (a merge, newest-wins, edit-wins-over-delete) undoes it.
import { api, ApiError } from "../core/api.js";
import {
  combine,
  deviceName,
  diffLegend,
  isImage,
  isOffline,
  loadDevices,
  loadingPanel,
  problemPanel,
  REASON_WORDS,
  RESOLUTION_WORDS,
  renderDiff,
  retryWhenSynced,
  statsText,
  versionBlob,
} from "../core/diffview.js";
import { $, confirmDialog, flash, formatBytes, formatDate, h, timeEl, toast } from "../core/ui.js";

function conflictIdFromPath() {
  const match = location.pathname.match(/^\/conflicts\/([0-9a-f-]{36})\/?$/);
  return match ? match[1] : null;
}

export async function mount({ client, root }) {
  const id = conflictIdFromPath();
  const box = $("[data-conflict-root]", root);
  const title = $("[data-title]", root);
  const subtitle = $("[data-subtitle]", root);
  let waiting = false;
  let devices = new Map();
  let detail = null;
  const objectUrls = [];

  const show = (...nodes) => {
    box.replaceChildren(...nodes);
    box.setAttribute("aria-busy", "false");
  };

  if (!id) {
    show(h("div", { class: "empty" }, h("h2", {}, "No such conflict"), h("a", { class: "btn btn-secondary", href: "/conflicts/" }, "All conflicts")));
    return;
  }

  const who = (side) => (side ? deviceName(devices, side.device_id, side.device_name) : "a removed device");

  // Names for the two sides' buttons; when both came from devices of the same name, their
  // order tells them apart.
  function sideNames(d) {
    const a = who(d.server);
    const b = who(d.incoming);
    if (a === b) return { server: "the first version", incoming: "the second version", serverWho: `${a} (first)`, incomingWho: `${b} (second)` };
    return { server: `${a}'s version`, incoming: `${b}'s version`, serverWho: a, incomingWho: b };
  }

  async function load() {
    waiting = false;
    box.setAttribute("aria-busy", "true");
    box.replaceChildren(loadingPanel("Loading the conflict…"));
    try {
      [detail, devices] = await Promise.all([api.get(`/conflicts/${id}/`), loadDevices().catch(() => devices)]);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        show(h("div", { class: "empty" }, h("h2", {}, "No such conflict"), h("p", {}, "It may have been removed with its item."), h("a", { class: "btn btn-secondary", href: "/conflicts/" }, "All conflicts")));
        return;
      }
      waiting = isOffline(err);
      show(problemPanel({ offline: waiting, what: "This conflict", error: err, retry: () => load() }));
      return;
    }
    render();
  }

  function sideMeta(side, role, names) {
    const bits = [];
    if (side.number === detail.head_version && detail.status !== "resolved") bits.push(h("span", { class: "badge badge-primary" }, "Current version"));
    else if (side.number === null) bits.push(h("span", { class: "badge" }, "Kept aside"));
    if (side.deleted) bits.push(h("span", { class: "badge badge-danger" }, "Deleted"));
    return h(
      "p",
      { class: "side-meta" },
      role === "server" ? "Reached the server first" : "Arrived later",
      " · saved ",
      timeEl(side.modified_at),
      side.number ? ` · version ${side.number}` : "",
      " ",
      ...bits,
    );
  }

  function textSide(side, role, names) {
    const heading = h("h2", { class: "side-title" }, `From ${role === "server" ? names.serverWho : names.incomingWho}`);
    const card = h("section", { class: `side-card side-${role}`, "aria-label": `Version from ${role === "server" ? names.serverWho : names.incomingWho}` }, heading, sideMeta(side, role, names));
    if (side.deleted) {
      card.append(h("p", { class: "side-deleted" }, "This device deleted the note."));
      return card;
    }
    const base = detail.base ? detail.base.content : "";
    const { view, stats } = renderDiff(base, side.content || "", { label: `Changes by ${role === "server" ? names.serverWho : names.incomingWho}` });
    card.append(h("p", { class: "muted small diff-stats" }, detail.base ? `${statsText(stats)} compared with the original` : "No common original: shown in full"), view);
    return card;
  }

  async function fileSide(side, role, names) {
    const label = role === "server" ? names.serverWho : names.incomingWho;
    const card = h("section", { class: `side-card side-${role}`, "aria-label": `File from ${label}` }, h("h2", { class: "side-title" }, `From ${label}`), sideMeta(side, role, names));
    const figure = h("figure", { class: "file-card" });
    if (side.deleted) figure.append(h("div", { class: "thumb thumb-none" }, "Deleted"));
    else if (isImage(side.content_type)) {
      try {
        const blob = await versionBlob(detail.item_id, side);
        if (!blob) throw new Error("no content");
        const url = URL.createObjectURL(blob);
        objectUrls.push(url);
        figure.append(h("img", { class: "thumb", src: url, alt: `${side.name} from ${label}` }));
      } catch {
        figure.append(h("div", { class: "thumb thumb-none" }, "Preview unavailable"));
      }
    } else {
      figure.append(h("div", { class: "thumb thumb-none", "aria-hidden": "true" }, (side.content_type || "file").split("/").pop().toUpperCase()));
    }
    figure.append(
      h(
        "figcaption",
        {},
        h("strong", {}, side.name),
        h("span", {}, side.deleted ? "deleted" : `${formatBytes(side.size)} · ${side.content_type || "unknown type"}`),
        h("span", {}, "Received by the server ", h("time", { datetime: side.created_at }, formatDate(side.created_at))),
      ),
    );
    card.append(figure);
    return card;
  }

  function statusNote() {
    if (detail.status === "resolved") {
      return h(
        "div",
        { class: "alert alert-success", role: "status" },
        h("div", { class: "alert-body" }, h("p", {}, h("strong", {}, "Resolved "), timeEl(detail.resolved_at), `: ${RESOLUTION_WORDS[detail.resolution] || detail.resolution}.`), h("p", {}, h("a", { href: `/items/${detail.item_id}/` }, "Open the item"))),
      );
    }
    if (detail.status === "auto_resolved") {
      return h(
        "div",
        { class: "alert", role: "status" },
        h("div", { class: "alert-body" }, h("p", {}, h("strong", {}, "Decided automatically. "), `${REASON_WORDS[detail.reason] || detail.reason}. If that was wrong, decide differently below: it replaces the automatic decision.`)),
      );
    }
    return null;
  }

  async function render() {
    const d = detail;
    const names = sideNames(d);
    title.textContent = `“${d.item_name || "Untitled"}”`;
    document.title = `Conflict in ${d.item_name || "Untitled"} · Cloud-Saves`;
    subtitle.hidden = false;
    subtitle.replaceChildren(REASON_WORDS[d.reason] || d.reason, " · ", timeEl(d.created_at));
    const parts = [];
    const note = statusNote();
    if (note) parts.push(note);
    const message = h("div", { "data-message": "", "aria-live": "assertive" });
    parts.push(message);
    if (d.kind === "text") {
      if (d.base) {
        parts.push(
          h(
            "details",
            { class: "details base-text" },
            h("summary", {}, "Original (before both edits)", h("span", { class: "muted small" }, " · saved ", timeEl(d.base.modified_at), ` by ${who(d.base)}`)),
            h("div", { class: "diff" }, h("div", { class: "diff-body" }, d.base.content || h("span", { class: "muted" }, "(empty)"))),
          ),
        );
      }
      if (d.hunks && d.hunks.length) parts.push(h("p", { class: "muted" }, `Both devices changed the same text in ${d.hunks.length} place${d.hunks.length === 1 ? "" : "s"}. Each side shows what it changed compared with the original.`));
      parts.push(diffLegend("added", "removed"));
      parts.push(h("div", { class: "sides" }, textSide(d.server, "server", names), textSide(d.incoming, "incoming", names)));
    } else {
      parts.push(h("div", { class: "sides" }, await fileSide(d.server, "server", names), await fileSide(d.incoming, "incoming", names)));
    }
    if (d.status !== "resolved") parts.push(decidePanel(names, message));
    else parts.push(h("p", {}, h("a", { class: "btn btn-secondary", href: "/conflicts/" }, "All conflicts")));
    show(...parts);
  }

  function decidePanel(names, message) {
    const d = detail;
    const anyDeleted = d.server.deleted || d.incoming.deleted;
    const panel = h("section", { class: "panel decide", "aria-labelledby": "decide-title" }, h("h2", { id: "decide-title" }, "Decide"));
    const buttons = h("div", { class: "btn-group decide-actions" });
    const choice = (value, label, kind = "secondary") => h("button", { type: "button", class: `btn btn-${kind}`, dataset: { choice: value }, onclick: () => decide(value, null, message) }, label);
    buttons.append(choice("server", `Keep ${names.server}`), choice("incoming", `Keep ${names.incoming}`));
    if (!anyDeleted) buttons.append(choice("both", "Keep both"));
    let editor = null;
    if (d.kind === "text" && !anyDeleted) {
      const open = h("button", { type: "button", class: "btn btn-secondary", "aria-expanded": "false", "aria-controls": "merge-editor" }, "Edit a merged text");
      editor = mergeEditor(names, message);
      editor.hidden = true;
      open.addEventListener("click", () => {
        editor.hidden = !editor.hidden;
        open.setAttribute("aria-expanded", String(!editor.hidden));
        if (!editor.hidden) $("textarea", editor).focus();
      });
      buttons.append(open);
    }
    panel.append(buttons);
    const help = h("ul", { class: "decide-help muted small" });
    help.append(h("li", {}, "Keeping one version makes it the current version everywhere; the other stays on this conflict's record."));
    if (!anyDeleted) help.append(h("li", {}, `Keep both leaves the current version as it is and saves the other as a separate ${d.kind === "text" ? "note" : "file"} named “… (conflicted copy, device, date)”.`));
    panel.append(help);
    if (editor) panel.append(editor);
    return panel;
  }

  function mergeEditor(names, message) {
    const d = detail;
    const base = d.base ? d.base.content : "";
    const starts = {
      combined: () => combine(base, d.server.content, d.incoming.content),
      server: () => d.server.content,
      incoming: () => d.incoming.content,
    };
    const textarea = h("textarea", { id: "merged-text", class: "merge-text", spellcheck: "true", rows: "14" });
    let prefilled = starts.combined();
    textarea.value = prefilled;
    const select = h(
      "select",
      { id: "merge-start", class: "input" },
      h("option", { value: "combined" }, "Both versions, combined"),
      h("option", { value: "server" }, names.server.replace(/^the /, "The ").replace(/^./, (c) => c.toUpperCase())),
      h("option", { value: "incoming" }, names.incoming.replace(/^./, (c) => c.toUpperCase())),
    );
    select.addEventListener("change", async () => {
      if (textarea.value !== prefilled) {
        const ok = await confirmDialog({ title: "Replace your edits?", message: "The merged text you typed will be replaced by the version you picked.", choices: [{ value: "yes", label: "Replace" }] });
        if (ok !== "yes") return;
      }
      prefilled = starts[select.value]();
      textarea.value = prefilled;
    });
    const save = h("button", { type: "button", class: "btn btn-primary", "data-save-merged": "" }, "Save merged text");
    save.addEventListener("click", () => decide("merged", textarea.value, message));
    return h(
      "div",
      { class: "merge-editor", id: "merge-editor" },
      h("div", { class: "field" }, h("label", { for: "merge-start" }, "Start from"), select, h("p", { class: "help" }, "“Combined” applies both devices' changes; where they changed the same lines, both are kept one after the other for you to tidy.")),
      h("div", { class: "field" }, h("label", { for: "merged-text" }, "Merged text"), textarea),
      h("div", { class: "form-actions" }, save),
    );
  }

  async function decide(choice, content, message) {
    const d = detail;
    const names = sideNames(d);
    if (choice === "server" || choice === "incoming") {
      const side = d[choice];
      const ok = await confirmDialog({
        title: `Keep ${names[choice]}?`,
        message: side.deleted
          ? `“${d.item_name}” will be deleted on every device.`
          : `“${d.item_name}” will have ${names[choice]} (saved ${formatDate(side.modified_at)}) on every device.`,
        choices: [{ value: "yes", label: side.deleted ? "Delete it" : `Keep ${names[choice]}`, kind: side.deleted ? "danger" : "primary" }],
      });
      if (ok !== "yes") return;
    }
    const buttons = box.querySelectorAll(".decide button");
    buttons.forEach((b) => (b.disabled = true));
    message.replaceChildren();
    const body = { choice, base_version: d.head_version };
    if (choice === "merged") body.content = content;
    try {
      const result = await api.post(`/conflicts/${id}/resolve`, body);
      await client.adoptServerItem(result.item);
      if (result.copy) await client.adoptServerItem(result.copy);
      client.syncNow().catch(() => {});
      const done = {
        server: `Kept ${names.server}.`,
        incoming: `Kept ${names.incoming}.`,
        both: `Kept both: the other version is now “${result.copy ? result.copy.name : "a conflicted copy"}”.`,
        merged: "Saved the merged text.",
      }[choice];
      flash(`“${d.item_name}”: ${done}`, { kind: "success" });
      location.assign(result.item && result.item.deleted ? "/items/" : `/items/${d.item_id}/`);
    } catch (err) {
      buttons.forEach((b) => (b.disabled = false));
      if (err instanceof ApiError && (err.code === "stale" || err.code === "already_resolved")) {
        message.replaceChildren(
          h(
            "div",
            { class: "alert alert-warning", role: "alert" },
            h(
              "div",
              { class: "alert-body" },
              h("p", {}, err.code === "stale" ? "This note changed again since; reload to decide again." : "This conflict was already resolved (perhaps on another device). Reload to see how."),
              h("p", {}, h("button", { type: "button", class: "btn btn-secondary btn-sm", "data-reload": "", onclick: () => load() }, "Reload")),
            ),
          ),
        );
      } else {
        message.replaceChildren(h("p", { class: "alert alert-error", role: "alert" }, isOffline(err) ? "Deciding needs a connection — you are offline. Try again once you are back online." : `That did not work: ${err.message}`));
      }
      message.scrollIntoView({ block: "center" });
    }
  }

  retryWhenSynced(client, () => waiting, () => load());
  await load();
}
