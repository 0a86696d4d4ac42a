// An item's history: its numbered versions (from the server), a diff of any of them
// against the current version, and restoring one as a new version.
import { api, ApiError } from "../core/api.js";
import {
  deviceName,
  diffLegend,
  isImage,
  isOffline,
  loadDevices,
  loadingPanel,
  originText,
  problemPanel,
  renderDiff,
  retryWhenSynced,
  statsText,
  versionBlob,
} from "../core/diffview.js";
import { $, confirmDialog, formatBytes, formatDate, h, timeEl, toast } from "../core/ui.js";

function itemIdFromPath() {
  const match = location.pathname.match(/^\/items\/([0-9a-f-]{36})\/history\/?$/);
  return match ? match[1] : null;
}

async function allVersions(id) {
  const out = [];
  let url = `/items/${id}/versions/`;
  while (url) {
    const page = await api.get(url);
    out.push(...page.results);
    url = page.next ? new URL(page.next, location.origin).pathname + new URL(page.next, location.origin).search : null;
  }
  return out.sort((a, b) => b.number - a.number);
}

export async function mount({ client, root }) {
  const id = itemIdFromPath();
  const box = $("[data-history-root]", root);
  const title = $("[data-title]", root);
  const itemLink = $("[data-item-link]", root);
  let waiting = false; // offline, retry when synced
  let versions = [];
  let devices = new Map();
  let kind = "text";
  let itemName = "";
  let selected = null;
  const contents = new Map(); // version number -> text content
  const objectUrls = [];

  const local = id ? await client.item(id) : null;
  itemName = local ? local.name : "";
  const setName = (name) => {
    itemName = name || itemName || "Untitled";
    title.textContent = `History of “${itemName}”`;
    document.title = `History of ${itemName} · Cloud-Saves`;
    itemLink.textContent = itemName;
  };
  itemLink.href = id ? `/items/${id}/` : "/items/";
  if (itemName) setName(itemName);

  const show = (...nodes) => {
    box.replaceChildren(...nodes);
    box.setAttribute("aria-busy", "false");
  };

  if (!id) {
    show(h("div", { class: "empty" }, h("h2", {}, "No such item"), h("p", {}, "This address does not name a note or file.")));
    return;
  }

  async function textOf(number) {
    if (contents.has(number)) return contents.get(number);
    const v = await api.get(`/items/${id}/versions/${number}/`);
    contents.set(number, v.content ?? "");
    return contents.get(number);
  }

  const head = () => versions[0];

  async function load(note = null) {
    waiting = false;
    box.setAttribute("aria-busy", "true");
    if (!box.querySelector(".history")) box.replaceChildren(loadingPanel("Loading history…"));
    try {
      const [list, devs] = await Promise.all([allVersions(id), loadDevices().catch(() => devices)]);
      versions = list;
      devices = devs;
    } catch (err) {
      waiting = isOffline(err);
      if (err instanceof ApiError && err.status === 404) {
        show(h("div", { class: "empty" }, h("h2", {}, "No history here"), h("p", {}, "This item does not exist on the server (it may not have synced yet, or it was deleted for good)."), h("a", { class: "btn btn-secondary", href: "/items/" }, "Back to notes & files")));
        return;
      }
      show(problemPanel({ offline: waiting, what: "History", error: err, retry: () => load() }));
      return;
    }
    if (!versions.length) {
      show(h("div", { class: "empty" }, h("h2", {}, "No versions yet"), h("p", {}, "This item has not reached the server yet. Its history starts once it has synced.")));
      return;
    }
    const latestName = head().name;
    if (latestName) setName(latestName);
    kind = (local && local.kind) || (head().content_type && !head().content_type.startsWith("text/") ? "binary" : "text");
    contents.delete(head().number); // the head may have changed
    const keep = selected && versions.find((v) => v.number === selected.number);
    selected = keep || versions[1] || versions[0];
    render(note);
  }

  function versionRow(v) {
    const isHead = v === head();
    const current = selected && selected.number === v.number;
    return h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: "version",
          "aria-pressed": current ? "true" : "false",
          dataset: { version: String(v.number) },
          onclick: () => select(v),
        },
        h("span", { class: "version-no" }, `v${v.number}`),
        h(
          "span",
          { class: "version-main" },
          h("span", { class: "version-origin" }, originText(v), isHead ? h("span", { class: "badge badge-primary" }, "Current") : null, v.deleted && v.origin !== "delete" ? h("span", { class: "badge badge-danger" }, "Deleted") : null),
          h("span", { class: "version-meta" }, deviceName(devices, v.device_id), " · ", timeEl(v.created_at), v.deleted ? null : ` · ${formatBytes(v.size)}`),
        ),
      ),
    );
  }

  function render(note) {
    const list = h("ol", { class: "version-list", "aria-label": "Versions, newest first" }, versions.map(versionRow));
    const detail = h("section", { class: "panel version-detail", "aria-live": "polite", "aria-labelledby": "version-detail-title" });
    const parts = [];
    if (note) parts.push(h("p", { class: "alert alert-warning", role: "alert" }, note));
    parts.push(h("div", { class: "history" }, h("div", { class: "history-list" }, h("h2", { class: "visually-hidden" }, "Versions"), list), detail));
    show(...parts);
    renderDetail(detail);
  }

  function select(v) {
    selected = v;
    for (const b of box.querySelectorAll(".version")) b.setAttribute("aria-pressed", b.dataset.version === String(v.number) ? "true" : "false");
    const detail = box.querySelector(".version-detail");
    renderDetail(detail);
    if (window.matchMedia("(max-width: 52rem)").matches) detail.scrollIntoView({ block: "start", behavior: "smooth" });
  }

  async function renderDetail(detail) {
    const v = selected;
    const cur = head();
    const isHead = v.number === cur.number;
    const heading = h("h2", { id: "version-detail-title" }, `Version ${v.number}`, isHead ? " (current)" : "");
    const facts = h(
      "dl",
      { class: "facts" },
      h("div", {}, h("dt", {}, "What"), h("dd", {}, originText(v))),
      h("div", {}, h("dt", {}, "Device"), h("dd", {}, deviceName(devices, v.device_id))),
      h("div", {}, h("dt", {}, "Saved"), h("dd", {}, formatDate(v.created_at))),
      h("div", {}, h("dt", {}, "Size"), h("dd", {}, v.deleted ? "—" : formatBytes(v.size))),
      v.name !== cur.name ? h("div", {}, h("dt", {}, "Name then"), h("dd", {}, v.name)) : null,
    );
    const actions = h("div", { class: "btn-group version-actions" });
    if (isHead) actions.append(h("p", { class: "muted small" }, "This is the current version."));
    else {
      actions.append(
        h("button", { type: "button", class: "btn btn-primary", "data-restore": "", onclick: () => restore(v) }, `Restore version ${v.number}`),
        h("p", { class: "muted small" }, "Restoring adds a new version with this content; nothing is lost."),
      );
    }
    for (const url of objectUrls.splice(0)) URL.revokeObjectURL(url);
    const compare = h("div", { class: "version-compare" }, loadingPanel("Loading the comparison…"));
    detail.replaceChildren(heading, facts, compare, actions);
    try {
      const view = kind === "binary" ? await binaryCompare(v, cur) : await textCompare(v, cur);
      if (selected === v) compare.replaceChildren(...view);
    } catch (err) {
      if (selected !== v) return;
      compare.replaceChildren(
        h("p", { class: "alert alert-error", role: "alert" }, isOffline(err) ? "The comparison needs a connection — you are offline." : `The comparison could not be loaded: ${err.message}`),
      );
    }
  }

  async function textCompare(v, cur) {
    const [before, after] = await Promise.all([textOf(v.number), textOf(cur.number)]);
    if (v.number === cur.number) {
      const { view } = renderDiff(after, after, { label: `Version ${v.number}` });
      return [h("h3", {}, "Content"), view];
    }
    const { view, stats } = renderDiff(before, after, { label: `Changes from version ${v.number} to the current version` });
    return [
      h("h3", {}, `Changes since version ${v.number}`),
      h("p", { class: "muted small diff-stats" }, stats.same ? "The text is the same as the current version." : `${statsText(stats)} since then.`),
      diffLegend("added since", "removed since (restoring brings it back)"),
      view,
    ];
  }

  async function binaryCompare(v, cur) {
    const card = async (version, label) => {
      const out = h("figure", { class: "file-card" });
      if (!version.deleted && isImage(version.content_type)) {
        try {
          const blob = await versionBlob(id, version);
          const url = URL.createObjectURL(blob);
          objectUrls.push(url);
          out.append(h("img", { class: "thumb", src: url, alt: `${label}: ${version.name}` }));
        } catch {
          out.append(h("div", { class: "thumb thumb-none" }, "Preview unavailable"));
        }
      } else {
        out.append(h("div", { class: "thumb thumb-none", "aria-hidden": "true" }, version.deleted ? "Deleted" : (version.content_type || "file").split("/").pop().toUpperCase()));
      }
      out.append(h("figcaption", {}, h("strong", {}, label), h("span", {}, version.content_type || "unknown type"), h("span", {}, version.deleted ? "deleted" : formatBytes(version.size))));
      return out;
    };
    if (v.number === cur.number) return [h("div", { class: "file-pair" }, await card(v, `Version ${v.number}`))];
    const same = v.sha256 === cur.sha256;
    return [
      h("h3", {}, "Compared with the current version"),
      h("p", { class: "muted small" }, same ? "Same content as the current version." : "The content differs from the current version."),
      h("div", { class: "file-pair" }, await card(v, `Version ${v.number}`), await card(cur, `Current (version ${cur.number})`)),
    ];
  }

  async function restore(v) {
    const cur = head();
    const ok = await confirmDialog({
      title: `Restore version ${v.number}?`,
      message: [`“${itemName}” will get the content of version ${v.number} (${formatDate(v.created_at)}) as a new version on every device.`, `The current version ${cur.number} stays in this history.`],
      choices: [{ value: "restore", label: `Restore version ${v.number}` }],
    });
    if (ok !== "restore") return;
    const button = box.querySelector("[data-restore]");
    if (button) button.disabled = true;
    try {
      const result = await api.post(`/items/${id}/restore`, { version: v.number, base_version: cur.number });
      await client.adoptServerItem(result.item);
      client.syncNow().catch(() => {});
      toast(`Restored version ${v.number} of “${itemName}”.`, { kind: "success" });
      selected = null;
      await load();
    } catch (err) {
      if (err instanceof ApiError && err.code === "stale") {
        selected = v;
        await load("This item changed since this page loaded, so nothing was restored. The list below is up to date: look again and restore if you still want to.");
      } else {
        toast(isOffline(err) ? "Restoring needs a connection — you are offline." : `Could not restore: ${err.message}`, { kind: "error" });
        if (button) button.disabled = false;
      }
    }
  }

  retryWhenSynced(client, () => waiting, () => load());
  // Another device's change to this item: the list grows.
  let timer = null;
  client.addEventListener("items", (e) => {
    if (waiting || !e.detail.items.some((i) => i.id === id && i.version && head() && i.version !== head().number && !i.local)) return;
    clearTimeout(timer);
    timer = setTimeout(() => load(), 400);
  });
  await load();
}
