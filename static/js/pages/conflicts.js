// The conflicts list: open conflicts waiting for a decision, then the recent automatic
// decisions (merges, newest-wins for files, edit-wins-over-delete), each with an undo.
import { api, ApiError } from "../core/api.js";
import { deviceName, isOffline, loadDevices, loadingPanel, problemPanel, REASON_WORDS, retryWhenSynced } from "../core/diffview.js";
import { $, confirmDialog, formatDate, h, timeEl, toast } from "../core/ui.js";

const RECENT = 20;
const DETAIL_POOL = 4;

// Which resolve choice undoes an automatic decision: the side it did not keep. A side
// kept aside has no number; the side at the head (or, for a delete, the delete) does.
export function undoChoices(detail) {
  const { reason, server, incoming } = detail;
  if (reason === "merged") return ["server", "incoming"];
  if (reason === "edit_wins_over_delete") return [incoming && incoming.deleted ? "incoming" : "server"];
  // newest_wins: the incoming file became the head unless it was older.
  return [incoming && incoming.number === null ? "incoming" : "server"];
}

async function pool(tasks, size) {
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next;
      next += 1;
      try {
        results[i] = await tasks[i]();
      } catch (err) {
        results[i] = err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, tasks.length) }, worker));
  return results;
}

export async function mount({ client, root }) {
  const box = $("[data-conflicts-root]", root);
  let waiting = false;
  let devices = new Map();
  const details = new Map(); // conflict id -> detail (device names)
  let shown = RECENT;
  const flags = new Map((await client.items()).map((i) => [i.id, i.has_conflict]));
  let loading = null;
  let again = false;

  const show = (...nodes) => {
    box.replaceChildren(...nodes);
    box.setAttribute("aria-busy", "false");
  };

  const sideDevice = (side) => (side ? deviceName(devices, side.device_id, side.device_name) : "a removed device");

  function devicesText(c) {
    const d = details.get(c.id);
    if (!d) return null;
    const a = sideDevice(d.server);
    const b = sideDevice(d.incoming);
    return a === b ? `Both on ${a}` : `${a} and ${b}`;
  }

  function openRow(c) {
    const devs = devicesText(c);
    return h(
      "li",
      { class: "review-row", dataset: { conflict: c.id } },
      h("span", { class: "review-icon is-open", "aria-hidden": "true" }, "!"),
      h(
        "div",
        { class: "review-main" },
        h("a", { class: "review-name", href: `/conflicts/${c.id}/` }, c.item_name || "Untitled"),
        h("p", { class: "review-meta" }, REASON_WORDS[c.reason] || c.reason, " · ", timeEl(c.created_at)),
        devs ? h("p", { class: "review-meta" }, devs) : null,
      ),
      h("a", { class: "btn btn-primary btn-sm", href: `/conflicts/${c.id}/`, "aria-label": `Review “${c.item_name}”` }, "Review"),
    );
  }

  function autoRow(c) {
    const devs = devicesText(c);
    return h(
      "li",
      { class: "review-row", dataset: { conflict: c.id } },
      h("span", { class: "review-icon is-auto", "aria-hidden": "true" }, "✓"),
      h(
        "div",
        { class: "review-main" },
        h("a", { class: "review-name", href: `/items/${c.item_id}/` }, c.item_name || "Untitled"),
        h("p", { class: "review-meta" }, REASON_WORDS[c.reason] || c.reason, " · ", timeEl(c.created_at)),
        devs ? h("p", { class: "review-meta" }, devs) : null,
      ),
      h(
        "div",
        { class: "btn-group review-actions" },
        h("a", { class: "btn btn-secondary btn-sm", href: `/conflicts/${c.id}/`, "aria-label": `Review the decision on “${c.item_name}”` }, "Review"),
        h("button", { type: "button", class: "btn btn-secondary btn-sm", "aria-label": `Undo the decision on “${c.item_name}”`, onclick: (e) => undo(c, e.currentTarget) }, "Undo"),
      ),
    );
  }

  function render(open, auto) {
    const openSection = h("section", { class: "review-section", "aria-labelledby": "open-title" }, h("h2", { id: "open-title" }, "Waiting for you", open.length ? h("span", { class: "badge badge-danger" }, String(open.length)) : null));
    if (open.length) openSection.append(h("ul", { class: "review-list", "data-open-conflicts": "" }, open.map(openRow)));
    else {
      openSection.append(
        h(
          "div",
          { class: "empty", "data-empty": "" },
          h("div", { class: "feature-icon", "aria-hidden": "true" }, h("span", { class: "empty-check" }, "✓")),
          h("h3", {}, "All clear"),
          h("p", {}, "No conflicts. When two devices change the same part of a note, both versions wait here for you."),
        ),
      );
    }
    const autoSection = h(
      "section",
      { class: "review-section", "aria-labelledby": "auto-title" },
      h("h2", { id: "auto-title" }, "Recent automatic decisions"),
      h("p", { class: "muted" }, "Cloud-Saves settled these on its own: edits to different parts merged, the newest copy of a file kept, an edit kept over a delete. Undo any that got it wrong."),
    );
    if (auto.length) {
      autoSection.append(h("ul", { class: "review-list", "data-auto-conflicts": "" }, auto.slice(0, shown).map(autoRow)));
      if (auto.length > shown) {
        autoSection.append(h("p", {}, h("button", { type: "button", class: "btn btn-link", onclick: () => { shown += RECENT; load(); } }, `Show ${Math.min(RECENT, auto.length - shown)} more`)));
      }
    } else autoSection.append(h("p", { class: "review-none" }, "Nothing decided automatically lately."));
    show(openSection, autoSection);
  }

  async function fetchAll() {
    const [open, auto, devs] = await Promise.all([
      api.all("/conflicts/", { status: "open" }),
      api.all("/conflicts/", { status: "auto_resolved" }),
      loadDevices().catch(() => devices),
    ]);
    devices = devs;
    return [open, auto];
  }

  async function fillDetails(list) {
    const missing = list.filter((c) => !details.has(c.id));
    const found = await pool(missing.map((c) => () => api.get(`/conflicts/${c.id}/`)), DETAIL_POOL);
    found.forEach((d, i) => {
      if (d && !(d instanceof Error)) details.set(missing[i].id, d);
    });
  }

  async function run() {
    waiting = false;
    if (!box.querySelector(".review-section")) box.replaceChildren(loadingPanel("Loading conflicts…"));
    box.setAttribute("aria-busy", "true");
    try {
      const [open, auto] = await fetchAll();
      render(open, auto); // at once, devices follow
      await fillDetails([...open, ...auto.slice(0, shown)]);
      render(open, auto);
    } catch (err) {
      waiting = isOffline(err);
      show(problemPanel({ offline: waiting, what: "The conflicts list", error: err, retry: () => load() }));
    }
  }

  // One load at a time; a request during one runs once more after it.
  function load() {
    if (loading) {
      again = true;
      return loading;
    }
    loading = run().finally(() => {
      loading = null;
      if (again) {
        again = false;
        load();
      }
    });
    return loading;
  }

  async function undo(c, button) {
    let detail;
    try {
      detail = await api.get(`/conflicts/${c.id}/`);
    } catch (err) {
      toast(isOffline(err) ? "Undoing needs a connection — you are offline." : `Could not load this decision: ${err.message}`, { kind: "error" });
      return;
    }
    details.set(c.id, detail);
    const name = c.item_name || "Untitled";
    const server = sideDevice(detail.server);
    const incoming = sideDevice(detail.incoming);
    let question;
    if (detail.reason === "merged") {
      question = {
        title: `Undo the merge of “${name}”?`,
        message: [
          `Edits from ${server} and ${incoming} were combined automatically. Choose which one to keep on its own instead.`,
          "The merged text stays in the item's history.",
        ],
        choices: [
          { value: "server", label: `Keep ${server}'s version (before the merge)` },
          { value: "incoming", label: `Keep ${incoming}'s version`, kind: "secondary" },
        ],
      };
    } else if (detail.reason === "edit_wins_over_delete") {
      const choice = undoChoices(detail)[0];
      const deleter = choice === "incoming" ? incoming : server;
      question = {
        title: `Delete “${name}” after all?`,
        message: [`${deleter} deleted it while another device edited it, so the edit was kept. Undoing deletes it on every device.`, "Its versions stay in its history."],
        choices: [{ value: choice, label: "Delete it", kind: "danger" }],
      };
    } else {
      const choice = undoChoices(detail)[0];
      const other = detail[choice];
      question = {
        title: `Put back the other copy of “${name}”?`,
        message: [`The copy from ${sideDevice(other)} (saved ${formatDate(other.modified_at)}) replaces the one kept automatically.`, "The current copy stays in the item's history."],
        choices: [{ value: choice, label: "Put it back" }],
      };
    }
    const choice = await confirmDialog(question);
    if (!choice) return;
    button.disabled = true;
    try {
      const result = await api.post(`/conflicts/${c.id}/resolve`, { choice, base_version: detail.head_version });
      await client.adoptServerItem(result.item);
      client.syncNow().catch(() => {});
      toast(`Undone: “${name}” ${choice === "server" && detail.reason === "merged" ? "is back to its version before the merge" : "was changed back"}.`, { kind: "success" });
    } catch (err) {
      if (err instanceof ApiError && err.code === "stale") toast(`“${name}” changed again since; look at it and try again.`, { kind: "warning" });
      else if (err instanceof ApiError && err.code === "already_resolved") toast(`This decision on “${name}” was already changed.`, { kind: "info" });
      else toast(isOffline(err) ? "Undoing needs a connection — you are offline." : `Could not undo: ${err.message}`, { kind: "error" });
    }
    load();
  }

  let timer = null;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!waiting) load();
    }, 300);
  };
  client.addEventListener("conflict", soon);
  client.addEventListener("conflicts", soon);
  client.addEventListener("items", (e) => {
    let changed = false;
    for (const item of e.detail.items) {
      if (Boolean(flags.get(item.id)) !== Boolean(item.has_conflict)) changed = true;
      flags.set(item.id, Boolean(item.has_conflict));
    }
    if (changed) soon();
  });
  retryWhenSynced(client, () => waiting, () => load());
  await load();
}
