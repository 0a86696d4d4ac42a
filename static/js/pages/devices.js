// /devices/: every device signed in to the account, live (presence, renames and
// revocations arrive as the client's `device` events), with rename, revoke and "send to
// this device", the handoff mode setting, and the last known list when offline.
import { api, ApiError, NetworkError } from "../core/api.js";
import { $, formatDate, h, timeAgo, timeEl, toast } from "../core/ui.js";

const CACHE_KEY = "devices";
const SETTINGS_KEY = "settings";
const MAX_NAME = 100;

const KIND_LABEL = { phone: "Phone", tablet: "Tablet", desktop: "Desktop", browser: "Browser", other: "Other" };

// The shapes of templates/partials/device_icon.html, one per kind.
const ICON_SHAPES = {
  phone: '<rect x="6.5" y="2.5" width="11" height="19" rx="2.5"/><path d="M10.5 18.5h3"/>',
  tablet: '<rect x="4" y="2.5" width="16" height="19" rx="2.5"/><path d="M10.5 18.5h3"/>',
  desktop: '<rect x="2.5" y="3.5" width="19" height="13" rx="2"/><path d="M8.5 20.5h7M12 16.5v4"/>',
  browser:
    '<rect x="2.5" y="4" width="19" height="16" rx="2.5"/><path d="M2.5 8.5h19"/><circle cx="5.6" cy="6.25" r=".4" fill="currentColor"/><circle cx="7.6" cy="6.25" r=".4" fill="currentColor"/>',
  other: '<rect x="3.5" y="3.5" width="17" height="17" rx="4"/><circle cx="12" cy="12" r="3"/>',
};

function deviceIcon(kind) {
  const wrap = document.createElement("span");
  wrap.innerHTML =
    '<svg width="22" height="22" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.7" ' +
    `stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">${ICON_SHAPES[kind] || ICON_SHAPES.other}</svg>`;
  return wrap.firstChild;
}

const EMPTY_ICON =
  '<svg width="24" height="24" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false"><rect x="2.5" y="4" width="13" height="10" rx="1.5"/><path d="M6 17.5h6"/><rect x="15.5" y="8" width="6" height="12" rx="1.5"/></svg>';

// Older browser devices stored the raw User-Agent as their platform: show it the way the
// server now stores it ("Chrome on Linux").
export function displayPlatform(platform) {
  if (!platform) return "";
  if (!/^Mozilla\/|AppleWebKit|Gecko\//.test(platform)) return platform;
  const ua = platform.toLowerCase();
  const browser =
    [["edg/", "Edge"], ["firefox/", "Firefox"], ["chrome/", "Chrome"], ["safari/", "Safari"]].find(([n]) => ua.includes(n))?.[1] ||
    "Browser";
  const system = [["android", "Android"], ["iphone", "iPhone"], ["ipad", "iPad"], ["mac os", "macOS"], ["windows", "Windows"], ["linux", "Linux"]].find(
    ([n]) => ua.includes(n),
  )?.[1];
  return system ? `${browser} on ${system}` : browser;
}

function sortDevices(list) {
  // This browser first; the rest in the server's order, so presence never reshuffles rows.
  return [...list].sort((a, b) => Number(b.current) - Number(a.current));
}

function describeError(err) {
  if (err instanceof NetworkError) return "You are offline. Try again once you are back online.";
  return err && err.message ? err.message : "Something went wrong.";
}

export async function mount({ client, handoff, root }) {
  await client.ready; // the page keeps its last known list in the local store
  const listRoot = $("[data-devices-root]", root);
  const offlineNote = $("[data-devices-offline]", root);
  const dialog = $("[data-revoke-dialog]", root);
  const modeFieldset = $("[data-handoff-mode]", root);
  const savedNote = $("[data-handoff-saved]", root);

  const state = {
    devices: [],
    listAt: null, // when the list shown was fetched from the server
    offline: false,
    loaded: false,
    error: null,
    editing: new Set(), // device ids whose rename form is open
    busy: new Set(), // device ids with a request in flight
    mode: null,
    modeOffline: false,
  };

  const actionsDisabled = () => state.offline || client.state === "revoked";

  // -- rendering

  function renderOfflineNote() {
    const revoked = client.state === "revoked";
    if (state.offline || revoked) {
      const when = state.listAt && state.devices.length;
      offlineNote.replaceChildren(
        h(
          "span",
          {},
          h("strong", {}, revoked ? "Signed out" : "Offline"),
          when ? " — showing the list from " : "",
          when ? h("time", { datetime: state.listAt }, formatDate(state.listAt)) : "",
          revoked ? ". Sign in again to manage your devices." : `${when ? ". Devices" : " — devices"} can be changed once you are back online.`,
        ),
      );
      offlineNote.hidden = false;
    } else {
      offlineNote.hidden = true;
    }
  }

  function renderEmpty() {
    const icon = h("div", { class: "feature-icon" });
    icon.innerHTML = EMPTY_ICON;
    return h(
      "div",
      { class: "empty" },
      icon,
      h("h3", {}, "No devices yet"),
      h(
        "p",
        {},
        "Sign in from the Cloud-Saves app on your phone, tablet or computer and it will show up here. Once two devices are connected, your notes and files stay in step between them.",
      ),
    );
  }

  function renderError() {
    return h(
      "div",
      { class: "empty devices-error", role: "alert" },
      h("h3", {}, "Your devices could not be loaded"),
      h("p", {}, describeError(state.error)),
      h("button", { type: "button", class: "btn btn-secondary btn-sm", onclick: () => load() }, "Try again"),
    );
  }

  function renderList() {
    listRoot.setAttribute("aria-busy", state.loaded || state.offline || state.error ? "false" : "true");
    renderOfflineNote();
    if (!state.devices.length) {
      if (state.error) listRoot.replaceChildren(renderError());
      else if (state.loaded) listRoot.replaceChildren(renderEmpty());
      return;
    }
    const ul = listRoot.querySelector(":scope > ul.device-list") || h("ul", { class: "device-list" });
    const rows = new Map([...ul.children].map((li) => [li.dataset.deviceId, li]));
    const wanted = sortDevices(state.devices).map((device) => {
      const old = rows.get(device.id);
      rows.delete(device.id);
      const fresh = old ? old : renderRow(device, null);
      return fresh;
    });
    wanted.forEach((li, i) => {
      if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] || null);
    });
    for (const li of rows.values()) li.remove();
    if (ul.parentNode !== listRoot) listRoot.replaceChildren(ul);
  }

  // A row for a device; keeps the focused control focused when it re-renders.
  function renderRow(device, old) {
    const focusKey = old && old.contains(document.activeElement) ? document.activeElement.dataset.focusKey : null;
    if (old && state.editing.has(device.id)) {
      // Leave an open rename form alone; show the new data once it closes.
      $(".device-name .name", old).textContent = device.name || "Unnamed device";
      return old;
    }
    const li = buildRow(device);
    if (focusKey) {
      const target = li.querySelector(`[data-focus-key="${focusKey}"]`);
      if (target) queueMicrotask(() => target.focus());
    }
    return li;
  }

  function buildRow(d) {
    const name = d.name || "Unnamed device";
    const kind = KIND_LABEL[d.kind] || "Device";
    const platform = displayPlatform(d.platform);
    const disabled = actionsDisabled() || state.busy.has(d.id);
    const headingId = `device-${d.id}-name`;
    // This browser is online while its own socket is open (the server announces its
    // arrival to the other sockets only).
    const online = d.current ? !state.offline && client.state !== "revoked" && Boolean(client.socketOpen || d.online) : d.online;

    const meta = h("p", { class: "device-meta" }, h("span", {}, kind));
    if (platform) meta.append(h("span", { class: "sep", "aria-hidden": "true" }, "·"), h("span", { "data-device-platform": true }, platform));
    if (d.created_at) {
      meta.append(
        h("span", { class: "sep", "aria-hidden": "true" }, "·"),
        h("span", {}, "Added ", h("time", { datetime: d.created_at, title: formatDate(d.created_at) }, new Date(d.created_at).toLocaleDateString(undefined, { dateStyle: "medium" }))),
      );
    }

    const main = h(
      "div",
      { class: "device-main" },
      h(
        "h3",
        { class: "device-name", id: headingId },
        h("span", { class: "name", "data-device-name": true }, name),
        d.current ? h("span", { class: "badge badge-primary" }, "This browser") : null,
      ),
      meta,
    );
    if (d.activity && d.activity.item_id) {
      main.append(
        h(
          "p",
          { class: "device-activity", "data-device-activity": true },
          h("span", { class: "activity-label" }, "Has open "),
          h("a", { href: `/items/${d.activity.item_id}/` }, d.activity.item_name || "a note"),
          d.activity.updated_at ? h("span", { class: "activity-when" }, " · ", live(timeEl(d.activity.updated_at))) : null,
        ),
      );
    }

    const status = h(
      "div",
      { class: "device-status" },
      h("span", { class: "state", "data-device-state": online ? "online" : "offline" }, h("span", { class: `dot${online ? " online" : ""}`, "aria-hidden": "true" }), online ? "Online" : "Offline"),
      d.last_seen_at ? h("span", { class: "seen" }, "Last seen ", live(timeEl(d.last_seen_at))) : h("span", { class: "seen" }, "Last seen never"),
    );

    const actions = h("div", { class: "device-actions", role: "group", "aria-labelledby": headingId });
    if (!d.current) {
      actions.append(
        h(
          "button",
          { type: "button", class: "btn btn-secondary btn-sm", disabled, "data-focus-key": "send", "data-action": "send", onclick: () => send(d) },
          "Send to this device",
        ),
      );
    }
    actions.append(
      h("button", { type: "button", class: "btn btn-secondary btn-sm", disabled, "data-focus-key": "rename", "data-action": "rename", onclick: () => openRename(d.id) }, "Rename"),
      h(
        "button",
        { type: "button", class: "btn btn-danger-outline btn-sm", disabled, "data-focus-key": "revoke", "data-action": "revoke", onclick: () => confirmRevoke(d) },
        d.current ? "Revoke and sign out" : "Revoke",
      ),
    );

    const icon = h("div", { class: "device-icon", title: kind }, deviceIcon(d.kind));
    return h(
      "li",
      { class: `device${d.current ? " is-current" : ""}`, "data-device-id": d.id, "data-current": d.current ? "true" : null, "aria-labelledby": headingId },
      icon,
      main,
      status,
      actions,
    );
  }

  function live(el) {
    el.dataset.live = "";
    return el;
  }

  // Relative times stay right while the page is open.
  setInterval(() => {
    for (const el of listRoot.querySelectorAll("time[data-live]")) el.textContent = timeAgo(el.getAttribute("datetime"));
  }, 30000);

  function rowOf(id) {
    return listRoot.querySelector(`li[data-device-id="${id}"]`);
  }

  function setDevice(device) {
    const i = state.devices.findIndex((d) => d.id === device.id);
    if (i >= 0) state.devices[i] = { ...state.devices[i], ...device };
    else state.devices.push(device);
  }

  function dropDevice(id) {
    state.devices = state.devices.filter((d) => d.id !== id);
    state.editing.delete(id);
  }

  async function saveCache() {
    try {
      await client.store.setMeta(CACHE_KEY, { list: state.devices, at: new Date().toISOString() });
    } catch {
      /* the list is only a convenience offline */
    }
  }

  // -- loading

  async function load() {
    try {
      state.devices = await api.all("/devices/");
      state.loaded = true;
      state.offline = false;
      state.listAt = new Date().toISOString();
      state.error = null;
      await saveCache();
    } catch (err) {
      state.error = err;
      if (err instanceof NetworkError) {
        state.offline = true;
        const cached = await client.store.getMeta(CACHE_KEY);
        if (cached && !state.loaded) {
          state.devices = cached.list || [];
          state.listAt = cached.at;
        }
        if (state.devices.length) state.error = null;
      }
    }
    renderAll();
  }

  // Every row again (disabled states follow the connection), then the list itself.
  function renderAll() {
    const ul = listRoot.querySelector(":scope > ul.device-list");
    if (ul) {
      for (const li of [...ul.children]) {
        const device = state.devices.find((d) => d.id === li.dataset.deviceId);
        if (device) li.replaceWith(renderRow(device, li));
      }
    }
    renderList();
    renderMode();
  }

  // -- rename

  function openRename(id) {
    const device = state.devices.find((d) => d.id === id);
    const li = rowOf(id);
    if (!device || !li || actionsDisabled()) return;
    state.editing.add(id);
    const inputId = `rename-${id}`;
    const errorId = `rename-${id}-error`;
    const input = h("input", {
      id: inputId,
      class: "input",
      type: "text",
      name: "name",
      value: device.name || "",
      maxlength: String(MAX_NAME),
      required: true,
      autocomplete: "off",
      "aria-describedby": errorId,
    });
    const error = h("p", { class: "field-errors rename-error", id: errorId, "aria-live": "polite" });
    const save = h("button", { type: "submit", class: "btn btn-primary btn-sm" }, "Save");
    const cancel = h("button", { type: "button", class: "btn btn-secondary btn-sm", onclick: () => closeRename(id, true) }, "Cancel");
    const form = h(
      "form",
      { class: "device-rename", "data-rename-form": true, novalidate: true },
      h("label", { for: inputId, class: "rename-label" }, "Device name"),
      h("div", { class: "rename-row" }, input, save, cancel),
      error,
    );
    input.addEventListener("input", () => {
      error.textContent = "";
      input.removeAttribute("aria-invalid");
    });
    form.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        closeRename(id, true);
      }
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const name = input.value.trim();
      if (!name) {
        error.textContent = "Give the device a name.";
        input.setAttribute("aria-invalid", "true");
        input.focus();
        return;
      }
      if (name === device.name) {
        closeRename(id, true);
        return;
      }
      save.disabled = true;
      save.textContent = "Saving…";
      try {
        const updated = await api.patch(`/devices/${id}/`, { name });
        setDevice(updated);
        await saveCache();
        closeRename(id, true);
        toast(`Renamed to “${updated.name}”.`, { kind: "success" });
      } catch (err) {
        save.disabled = false;
        save.textContent = "Save";
        if (err instanceof ApiError && err.code === "not_found") {
          dropDevice(id);
          renderList();
          toast("That device was removed in the meantime.", { kind: "warning" });
          return;
        }
        const field = err instanceof ApiError && err.details && err.details.fields && err.details.fields.name;
        error.textContent = field ? [].concat(field).join(" ") : describeError(err);
        input.setAttribute("aria-invalid", "true");
        input.focus();
      }
    });
    $(".device-actions", li).hidden = true;
    li.classList.add("is-editing");
    li.append(form);
    input.focus();
    input.select();
  }

  function closeRename(id, refocus) {
    state.editing.delete(id);
    const li = rowOf(id);
    const device = state.devices.find((d) => d.id === id);
    if (!li) return;
    if (!device) {
      li.remove();
      return;
    }
    const fresh = buildRow(device);
    li.replaceWith(fresh);
    if (refocus) $("[data-action='rename']", fresh)?.focus();
  }

  // -- revoke

  let revoking = null;
  let selfRevoked = false;

  // The signed-out dialog (core/ui.js) says this browser was removed elsewhere; when it
  // was removed here, say so.
  client.addEventListener("revoked", () => {
    const text = document.querySelector("[data-revoked-dialog] [data-revoked-text]");
    if (selfRevoked && text) {
      text.textContent = "You revoked this browser, so it no longer syncs. Notes you changed here since the last sync stay in this browser until you sign in again.";
    }
    renderAll();
  });

  function confirmRevoke(device) {
    if (actionsDisabled()) return;
    revoking = device;
    const name = device.name || "this device";
    $("[data-revoke-title]", dialog).textContent = device.current ? "Revoke this browser and sign out?" : `Revoke “${name}”?`;
    $("[data-revoke-text]", dialog).textContent = device.current
      ? "This is the browser you are using now. Revoking it signs you out here at once: it stops syncing, and you will need to sign in again to use Cloud-Saves in this browser."
      : `${name} stops syncing at once: its access token stops working and its live connection closes. To use it with your account again, you will need to sign in on it again.`;
    $("[data-revoke-confirm]", dialog).textContent = device.current ? "Revoke and sign out" : "Revoke device";
    dialog.returnValue = "";
    dialog.showModal();
  }

  dialog.addEventListener("close", async () => {
    const device = revoking;
    revoking = null;
    if (!device) return;
    const row = rowOf(device.id);
    if (dialog.returnValue !== "confirm") {
      row && $("[data-action='revoke']", row)?.focus();
      return;
    }
    state.busy.add(device.id);
    if (row) row.replaceWith(buildRow(device));
    // The socket may close (4403) before the answer arrives.
    if (device.current) selfRevoked = true;
    try {
      await api.del(`/devices/${device.id}/`);
      if (!device.current) {
        dropDevice(device.id);
        await saveCache();
        toast(`${device.name || "The device"} was revoked.`, { kind: "success" });
      } else {
        // This browser's own row stays, greyed out under the signed-out dialog: the
        // socket closes with 4403 and the dialog opens; if it does not
        // (no socket), go to the sign-in page.
        setTimeout(() => {
          if (client.state !== "revoked") location.assign("/accounts/login/");
        }, 3000);
      }
    } catch (err) {
      if (err instanceof ApiError && err.code === "not_found") {
        dropDevice(device.id);
      } else {
        selfRevoked = false;
        toast(`Could not revoke ${device.name || "the device"}: ${describeError(err)}`, { kind: "error" });
      }
    } finally {
      state.busy.delete(device.id);
      const old = rowOf(device.id);
      const stillThere = state.devices.find((d) => d.id === device.id);
      if (old && stillThere) old.replaceWith(buildRow(stillThere));
      renderList();
      if (!stillThere) $("#devices-heading", root)?.focus();
      else $("[data-action='revoke']", rowOf(device.id))?.focus();
    }
  });

  // -- send (handoff)

  async function send(device) {
    if (actionsDisabled()) return;
    const name = device.name || "that device";
    state.busy.add(device.id);
    const row = rowOf(device.id);
    const button = row && $("[data-action='send']", row);
    if (button) {
      button.disabled = true;
      button.textContent = "Sending…";
    }
    try {
      const offer = await api.post("/handoff/send", { device_id: device.id });
      const item = offer && offer.item ? `“${offer.item.name}”` : "your note";
      const how = offer && offer.handoff_mode === "auto" ? "It opens there at once." : "It asks there whether to continue.";
      toast(`Sent ${item} to ${name}. ${how}`, { kind: "success" });
    } catch (err) {
      if (err instanceof ApiError && err.code === "no_activity") {
        toast("This browser has no note open. Open a note first, then send it.", { kind: "warning" });
      } else if (err instanceof ApiError && err.code === "handoff_off") {
        toast("Handoff is turned off, so nothing can be sent. Choose “Ask first” or “Open at once” under Handoff.", {
          kind: "warning",
          action: { label: "Handoff settings", run: () => $("input[name='handoff_mode']:checked", modeFieldset)?.focus() },
        });
      } else if (err instanceof ApiError && err.code === "not_found") {
        dropDevice(device.id);
        toast(`${name} is no longer signed in.`, { kind: "warning" });
      } else {
        toast(`Could not send to ${name}: ${describeError(err)}`, { kind: "error" });
      }
    } finally {
      state.busy.delete(device.id);
      const current = state.devices.find((d) => d.id === device.id);
      const old = rowOf(device.id);
      if (old && current && !state.editing.has(device.id)) old.replaceWith(renderRow(current, old));
      renderList();
    }
  }

  // -- handoff mode

  function renderMode() {
    const radios = [...modeFieldset.querySelectorAll("input[name='handoff_mode']")];
    for (const radio of radios) radio.checked = radio.value === state.mode;
    modeFieldset.disabled = !state.mode || state.offline || state.modeOffline || client.state === "revoked";
    if (state.mode && (state.offline || state.modeOffline)) setSaved("Offline: the setting can be changed once you are back online.", "offline");
    else if (savedNote.dataset.state === "offline") setSaved("", "");
  }

  function setSaved(text, kind) {
    savedNote.textContent = text;
    savedNote.dataset.state = kind;
  }

  async function loadMode() {
    try {
      const data = await api.get("/settings");
      state.mode = data.handoff_mode;
      state.modeOffline = false;
      await client.store.setMeta(SETTINGS_KEY, data).catch(() => {});
    } catch (err) {
      const cached = await client.store.getMeta(SETTINGS_KEY);
      if (cached && !state.mode) state.mode = cached.handoff_mode;
      state.modeOffline = err instanceof NetworkError;
      if (!(err instanceof NetworkError)) setSaved(`The setting could not be loaded: ${describeError(err)}`, "error");
    }
    renderMode();
  }

  let modeRequest = 0;
  modeFieldset.addEventListener("change", async (e) => {
    const radio = e.target;
    if (radio.name !== "handoff_mode") return;
    const previous = state.mode;
    const wanted = radio.value;
    state.mode = wanted;
    const request = ++modeRequest;
    setSaved("Saving…", "saving");
    try {
      const data = await api.patch("/settings", { handoff_mode: wanted });
      if (request !== modeRequest) return;
      state.mode = data.handoff_mode;
      await client.store.setMeta(SETTINGS_KEY, data).catch(() => {});
      setSaved("Saved", "saved");
    } catch (err) {
      if (request !== modeRequest) return;
      state.mode = previous;
      renderMode();
      setSaved(`Not saved: ${describeError(err)}`, "error");
    }
  });

  // -- live

  client.addEventListener("device", (e) => {
    const device = e.detail;
    if (!device || !device.id) return;
    if (device.revoked) dropDevice(device.id);
    else setDevice(device);
    if (!state.offline) saveCache();
    const old = rowOf(device.id);
    const current = state.devices.find((d) => d.id === device.id);
    if (old && current) old.replaceWith(renderRow(current, old));
    renderList();
  });

  // Back online (the socket said hello again): fetch the list afresh.
  let wasOffline = false;
  let socketOpen = client.socketOpen;
  const refreshCurrent = () => {
    const current = state.devices.find((d) => d.current);
    const old = current && rowOf(current.id);
    if (old) old.replaceWith(renderRow(current, old));
  };
  client.addEventListener("hello", () => {
    socketOpen = true;
    refreshCurrent();
    if (wasOffline || state.offline || !state.loaded) {
      wasOffline = false;
      load();
      loadMode();
    }
  });
  client.addEventListener("status", (e) => {
    const s = e.detail.state;
    if (s === "offline" && !state.offline) {
      wasOffline = true;
      state.offline = true;
      renderAll();
    } else if (s === "revoked") {
      renderAll();
    } else if (client.socketOpen !== socketOpen) {
      socketOpen = client.socketOpen;
      refreshCurrent();
    }
  });

  // Show the last known list at once, then ask the server.
  const cached = await client.store.getMeta(CACHE_KEY);
  if (cached && cached.list && cached.list.length) {
    state.devices = cached.list;
    state.listAt = cached.at;
    renderList();
  }
  await Promise.all([load(), loadMode()]);
}
