// Shared page furniture: the sync status line, toasts, the conflict count in the
// navigation, the signed-out dialog, and small formatting helpers.

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function $$(selector, root = document) {
  return [...root.querySelectorAll(selector)];
}

// Build an element: h("a", {href: "/x", class: "btn"}, "text", child, ...).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function formatBytes(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export function timeAgo(iso) {
  if (!iso) return "never";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const abs = Math.abs(seconds);
  if (abs < 45) return "just now";
  for (const [limit, unit, size] of [
    [3600, "minute", 60],
    [86400, "hour", 3600],
    [604800, "day", 86400],
    [2629800, "week", 604800],
    [31557600, "month", 2629800],
  ]) {
    if (abs < limit) return relative.format(Math.round(seconds / size), unit);
  }
  return relative.format(Math.round(seconds / 31557600), "year");
}

// One formatter for every date on a page: building one per call costs ~0.1 ms, which a
// list of a thousand items notices.
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(iso) {
  if (!iso) return "";
  return dateFormat.format(new Date(iso));
}

// Name order as people expect it ("Note 2" before "Note 10", case ignored), with one
// shared collator for the same reason.
const nameCollator = new Intl.Collator(undefined, { sensitivity: "base", numeric: true });

export function compareNames(a, b) {
  return nameCollator.compare(a || "", b || "");
}

// A <time> element that shows "5 minutes ago" with the full date on hover.
export function timeEl(iso) {
  return h("time", { datetime: iso, title: formatDate(iso) }, timeAgo(iso));
}

export function toast(message, { kind = "info", action = null, timeout = 6000 } = {}) {
  const region = $("[data-toasts]");
  if (!region) return null;
  const el = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, h("span", { class: "toast-text" }, message));
  if (action) {
    el.append(
      h("button", { type: "button", class: "btn btn-link btn-sm", onclick: () => { action.run(); el.remove(); } }, action.label),
    );
  }
  el.append(h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", onclick: () => el.remove() }, "×"));
  region.append(el);
  if (timeout) setTimeout(() => el.remove(), timeout);
  return el;
}

// A toast for the next page this tab opens (a toast does not survive navigation).
const FLASH_KEY = "cloudsaves.flash";

export function flash(message, { kind = "info" } = {}) {
  const queued = JSON.parse(sessionStorage.getItem(FLASH_KEY) || "[]");
  queued.push({ message, kind });
  sessionStorage.setItem(FLASH_KEY, JSON.stringify(queued));
}

export function showFlashes() {
  const queued = JSON.parse(sessionStorage.getItem(FLASH_KEY) || "[]");
  sessionStorage.removeItem(FLASH_KEY);
  for (const { message, kind } of queued) toast(message, { kind });
}

const STATUS_TEXT = {
  starting: () => "Starting…",
  synced: () => "Synced",
  syncing: () => "Syncing…",
  // The browser knows when it has no network; with a network, the server is what is down.
  offline: (s) =>
    `${navigator.onLine ? "Server unreachable, retrying" : "Offline"}${s.pending ? ` · ${s.pending} change${s.pending === 1 ? "" : "s"} waiting` : ""}`,
  error: (s) => `Sync error${s.error ? `: ${s.error}` : ""} · retrying`,
  revoked: () => "Signed out",
};

export function mountStatus(client) {
  const el = $("[data-sync-status]");
  if (!el) return;
  const text = $("[data-sync-status-text]", el);
  const render = (status) => {
    let label = STATUS_TEXT[status.state] ? STATUS_TEXT[status.state](status) : status.state;
    if ((status.state === "syncing" || status.state === "synced") && status.pending) {
      label = `Syncing · ${status.pending} change${status.pending === 1 ? "" : "s"} to send`;
    }
    el.dataset.state = status.state;
    el.dataset.pending = String(status.pending || 0);
    text.textContent = label;
  };
  client.addEventListener("status", (e) => render(e.detail));
  render({ state: client.state, pending: client.pending });
}

// The open-conflict count in the navigation, from the local copy: live with every
// change the client applies, and right offline.
export function mountConflictBadge(client) {
  const badge = $("[data-conflict-count]");
  if (!badge) return;
  const value = $("[data-conflict-count-value]", badge);
  let timer = null;
  const update = async () => {
    timer = null;
    const count = (await client.items()).filter((i) => i.has_conflict).length;
    value.textContent = String(count);
    badge.hidden = count === 0;
  };
  // Counted at most every 250 ms: a first sync applies thousands of items in pages.
  const soon = () => {
    if (!timer) timer = setTimeout(update, 250);
  };
  client.addEventListener("items", soon);
  client.addEventListener("conflict", soon);
  soon(); // after the page has drawn from the same store
}

export function mountRevoked(client) {
  const dialog = $("[data-revoked-dialog]");
  client.addEventListener("revoked", (e) => {
    if (!dialog) return;
    if (e.detail.reason !== "revoked") {
      $("[data-revoked-text]", dialog).textContent =
        "Your session ended (you signed out, or your password was changed on another device). Sign in again to keep syncing.";
    }
    if (!dialog.open) dialog.showModal();
  });
}

export function mountChrome(client) {
  showFlashes();
  mountStatus(client);
  mountConflictBadge(client);
  mountRevoked(client);
  client.addEventListener("rejected", (e) => {
    const name = e.detail.item ? e.detail.item.name : "A change";
    toast(`${name} could not be saved: ${e.detail.error ? e.detail.error.message : "rejected by the server"}`, { kind: "error", timeout: 0 });
  });
  client.addEventListener("conflicts", (e) => {
    for (const result of e.detail.results) {
      if (result.status === "conflict" && result.item && result.item.has_conflict) {
        toast(`“${result.item.name}” was changed on another device too. Both versions are kept.`, {
          kind: "warning",
          action: { label: "Review", run: () => location.assign(`/conflicts/${result.conflict_id}/`) },
          timeout: 15000,
        });
      }
    }
  });
}

// A modal question with buttons; resolves to the chosen value, or null when dismissed
// (Escape, Cancel). choices: [{value, label, kind: "primary"|"secondary"|"danger"}].
export function confirmDialog({ title, message, choices, cancel = "Cancel" }) {
  return new Promise((resolve) => {
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const dialog = h("dialog", { class: "modal", "aria-labelledby": titleId });
    const finish = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    const body = Array.isArray(message) ? message : [message];
    dialog.append(
      h("h2", { id: titleId }, title),
      ...body.filter(Boolean).map((m) => (m instanceof Node ? m : h("p", {}, m))),
      h(
        "div",
        { class: "btn-group" },
        ...choices.map((c) => h("button", { type: "button", class: `btn btn-${c.kind || "primary"}`, onclick: () => finish(c.value) }, c.label)),
        h("button", { type: "button", class: "btn btn-secondary", onclick: () => finish(null) }, cancel),
      ),
    );
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      finish(null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
