// The browser's sync client: IndexedDB is the source the pages read, the server is
// reached by push (changes with their change ids), pull (changes since the cursor) and
// the WebSocket (live changes, presence, conflicts, handoff).
//
// Correctness never rests on a socket message: every (re)connect pushes what is
// pending and pulls from the cursor, and a lost message only delays a change.
import { api, ApiError, NetworkError, postWithProgress } from "./api.js";
import { openStore } from "./store.js";
// jsdiff carries local edits over a newer head. It is part of the module graph, so it is
// there whenever the app is, even if the network goes away right after the page opened.
import { applyPatch, structuredPatch } from "../../vendor/diff-8.0.2/index.js";

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30000;
const PULL_PAGE = 1000; // the most the server serves in one page

export function b64ToBlob(b64, type) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) bytes[i] = bin.charCodeAt(i);
  return new Blob([bytes], { type: type || "application/octet-stream" });
}

export async function blobToB64(blob) {
  const buf = new Uint8Array(await blob.arrayBuffer());
  let bin = "";
  const step = 0x8000;
  for (let i = 0; i < buf.length; i += step) bin += String.fromCharCode.apply(null, buf.subarray(i, i + step));
  return btoa(bin);
}

async function sha256Hex(data) {
  const buf = typeof data === "string" ? new TextEncoder().encode(data) : new Uint8Array(await data.arrayBuffer());
  const digest = await crypto.subtle.digest("SHA-256", buf);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// A function that makes the edits that turned `from` into `to` to `onto` instead, or
// returns null when they do not apply exactly (jsdiff's patch, with one line of context
// to anchor each change and no fuzz: a line the other side also changed makes it fail,
// never a guess). Synchronous once made, so it can run inside an IndexedDB transaction.
export async function editCarrier() {
  return (from, to, onto) => {
    if (from === to) return onto;
    const carried = applyPatch(onto, structuredPatch("", "", from, to, "", "", { context: 1 }));
    return carried === false ? null : carried;
  };
}

// One thing at a time against the local store and the server: pull pages, push results
// and socket messages are applied in order, never interleaved.
class Serial {
  constructor() {
    this.tail = Promise.resolve();
  }
  run(fn) {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => {});
    return next;
  }
}

// Server state for an item, as a local record. `existing` keeps what the server does
// not send again (a fetched blob whose version did not change).
function fromServer(change, existing) {
  const record = {
    id: change.id,
    kind: change.kind,
    name: change.name,
    content_type: change.content_type,
    version: change.version,
    base_version: change.version,
    size: change.size,
    sha256: change.sha256,
    modified_at: change.modified_at,
    updated_at: change.updated_at,
    deleted: change.deleted,
    has_conflict: change.has_conflict,
    seq: change.seq,
    device_id: change.device_id,
    local: false,
  };
  if (change.kind === "text") {
    record.content = change.deleted ? "" : change.content ?? existing?.content ?? "";
  } else {
    record.content_url = change.content_url || null;
    if (change.content_b64 !== undefined) {
      record.blob = b64ToBlob(change.content_b64, change.content_type);
    } else if (existing && existing.sha256 === change.sha256 && existing.blob) {
      record.blob = existing.blob;
    } else {
      record.blob = null;
    }
  }
  return record;
}

export class SyncClient extends EventTarget {
  constructor({ userId, wsUrl = null }) {
    super();
    this.userId = userId;
    this.wsUrl = wsUrl || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/v1/`;
    this.serial = new Serial();
    this.state = "starting"; // synced | syncing | offline | error | revoked
    this.error = null;
    this.pending = 0;
    this.device = null;
    this.info = null;
    this.socket = null;
    this.socketOpen = false;
    this.reconnectDelay = RECONNECT_MIN_MS;
    this.reconnectTimer = null;
    this.pushScheduled = null;
    this.stopped = false;
    this.syncing = 0;
    this.uploads = new Map(); // item id -> {loaded, total}
    // Reads wait for the local store to open, so pages may ask before start() ends.
    this.ready = new Promise((resolve) => {
      this._ready = resolve;
    });
  }

  async start() {
    this.store = await openStore(this.userId);
    this._ready(); // pages may read now
    [this.pending, this.device, this.info] = await Promise.all([
      this.store.countPending(),
      this.store.getMeta("device"),
      this.store.getMeta("info"),
    ]);
    // Tabs of this browser share the store: each tells the others what it changed there.
    if ("BroadcastChannel" in window) {
      this.tabs = new BroadcastChannel(`cloudsaves-${this.userId}`);
      this.tabs.onmessage = (e) => this._fromOtherTab(e.data);
    }
    this._emitStatus();
    if (!this.info) this.limits().catch(() => {});
    window.addEventListener("online", () => this.kick());
    window.addEventListener("offline", () => {
      this._setState("offline");
      if (this.socket) this.socket.close();
    });
    this.kick();
  }

  // The server's published limits (GET /api/v1/info), fetched once and kept offline.
  async limits() {
    if (!this.info) {
      this.info = await api.get("/info");
      await this.store.setMeta("info", this.info);
    }
    return this.info;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    if (this.socket) this.socket.close();
  }

  // -- status

  _setState(state, error = null) {
    this.state = state;
    this.error = error;
    this._emitStatus();
  }

  _emitStatus() {
    this.dispatchEvent(
      new CustomEvent("status", {
        detail: { state: this.state, pending: this.pending, error: this.error, uploads: this.uploads, socketOpen: this.socketOpen },
      }),
    );
  }

  async _refreshPending() {
    this.pending = await this.store.countPending();
    this._emitStatus();
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
    if (type === "items" && this.tabs) {
      this.tabs.postMessage({ type: "items", ids: detail.items.map((i) => i.id), local: !!detail.local });
    }
  }

  async _fromOtherTab(message) {
    if (!message || message.type !== "items") return;
    const items = (await Promise.all(message.ids.map((id) => this.store.getItem(id)))).filter(Boolean);
    await this._refreshPending();
    if (items.length) this.dispatchEvent(new CustomEvent("items", { detail: { items, fromTab: true } }));
    // Another tab saved a local edit: it pushes it; this one only shows it.
  }

  // -- the sync loop

  // Push what is pending, pull to the server's latest, then (re)open the socket.
  kick() {
    if (this.stopped || this.state === "revoked") return Promise.resolve();
    clearTimeout(this.reconnectTimer);
    return this.syncNow()
      .then(() => this._connect())
      .catch(() => {});
  }

  async syncNow() {
    if (!navigator.onLine) {
      // Certainly offline: say so at once; the "online" event starts the next round.
      this._setState("offline");
      throw new NetworkError();
    }
    this.syncing += 1;
    this._setState("syncing");
    try {
      await this.limits();
      await this.push();
      await this.pull();
      this.syncing -= 1;
      this._settleState();
    } catch (err) {
      this.syncing -= 1;
      this._handleFailure(err);
      throw err;
    }
  }

  _settleState() {
    if (this.syncing > 0 || this.state === "revoked") return;
    if (!navigator.onLine) {
      this._setState("offline");
    } else if (this.pending > 0) {
      // Saved while the last round was on its way: another round takes it.
      this._setState("syncing");
      this.schedulePush();
    } else {
      this._setState("synced");
    }
  }

  _handleFailure(err) {
    if (err instanceof NetworkError) {
      this._setState("offline");
      this._scheduleReconnect();
    } else if (err instanceof ApiError && (err.status === 401 || err.code === "not_authenticated")) {
      this._revoked(err.code === "device_revoked" ? "revoked" : "signed_out");
    } else {
      this._setState("error", err.message || String(err));
      this._scheduleReconnect();
    }
  }

  _revoked(reason) {
    this.stopped = true;
    this._setState("revoked", reason);
    if (this.socket) this.socket.close();
    this._emit("revoked", { reason });
  }

  _scheduleReconnect() {
    if (this.stopped) return;
    clearTimeout(this.reconnectTimer);
    // Exponential backoff with full jitter, so a restarted server is not stampeded.
    const delay = Math.random() * this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => this.kick(), delay + RECONNECT_MIN_MS / 2);
  }

  // Push soon (coalescing bursts of local edits into one request).
  schedulePush() {
    if (this.pushScheduled) return;
    this.pushScheduled = setTimeout(() => {
      this.pushScheduled = null;
      this.syncNow().catch(() => {});
    }, 0);
  }

  // -- pull

  pull() {
    return this.serial.run(() => this._pull());
  }

  async _pull() {
    let cursor = await this.store.getMeta("cursor", "");
    let fullResync = !cursor;
    const seen = new Set();
    const fetchPage = (since) => api.get("/sync/changes", { since, limit: PULL_PAGE });
    let request = fetchPage(cursor);
    for (;;) {
      let page;
      try {
        page = await request;
      } catch (err) {
        if (err instanceof ApiError && (err.code === "resync_required" || err.code === "bad_cursor")) {
          // The server cannot continue from this cursor: start over, keep local edits.
          cursor = "";
          fullResync = true;
          seen.clear();
          await this.store.setMeta("cursor", "");
          request = fetchPage(cursor);
          continue;
        }
        throw err;
      }
      // The next page is on its way while this one is written.
      if (page.has_more) {
        request = fetchPage(page.cursor);
        request.catch(() => {}); // handled when awaited
      }
      for (const change of page.changes) seen.add(change.id);
      await this._applyServer(page.changes, page.cursor);
      cursor = page.cursor;
      if (!page.has_more) break;
    }
    if (fullResync) await this.store.dropItemsNotIn(seen);
  }

  async _applyServer(changes, cursor) {
    const applied = await this.store.applyServerPage(changes, cursor, (existing, change, hasPending) => {
      if (!hasPending) return fromServer(change, existing);
      // Local edits not yet confirmed: keep them, and the version they derive from, so
      // the push lets the server merge them with this change.
      return {
        ...existing,
        version: change.version,
        has_conflict: change.has_conflict,
        seq: change.seq,
        updated_at: change.updated_at,
        device_id: change.device_id,
      };
    });
    if (applied.length) this._emit("items", { items: applied });
    return applied;
  }

  // An item the server sent outside the change feed (a handoff's accept, a conflict's
  // resolution, a restore): kept unless the local copy is already newer. The cursor stays.
  // Push results carry no content: the head is fetched, so the local copy never pairs a
  // new version number with old text. If it cannot be fetched (offline) the local copy
  // stays as it is and the next pull brings the change.
  async adoptServerItem(item) {
    if (!item.deleted && ((item.kind === "text" && item.content === undefined) || (item.kind === "binary" && item.content_b64 === undefined && !item.content_url))) {
      try {
        item = await api.get(`/items/${item.id}/`);
      } catch {
        return null;
      }
    }
    return this.serial.run(async () => {
      const existing = await this.store.getItem(item.id);
      if (existing && existing.version > item.version) return existing;
      const [applied] = await this._applyServer([item], null);
      return applied;
    });
  }

  // -- local edits

  // Save a note's text. `derivedFrom` ({content, version}) is the text the edit started
  // from, when the caller showed the user an earlier copy (the editor does): edits made
  // on a copy that has since changed are carried onto the new text (see Store.recordText).
  async saveText(id, { content, name, derivedFrom }) {
    const carry = await editCarrier();
    const item = await this.store.recordText(id, { content, name, modifiedAt: new Date().toISOString(), derivedFrom, carry });
    await this._afterLocal([item]);
    return item;
  }

  async rename(id, name) {
    const existing = await this.store.getItem(id);
    if (!existing) return null;
    const now = new Date().toISOString();
    const item = { ...existing, name, modified_at: now };
    const change = { item_id: id, op: "put", kind: item.kind, name, content_type: item.content_type, modified_at: now, base_version: item.base_version || null, rebase: true };
    // A rename coalesced into an unsent edit keeps that edit's content.
    const open = (await this.store.pendingFor(id)).find((c) => !c.sent);
    if (open && open.op === "put") {
      if (open.content !== undefined) change.content = open.content;
      if (open.blob !== undefined) change.blob = open.blob;
    }
    await this.store.recordLocal(item, change);
    await this._afterLocal([item]);
    return item;
  }

  async addFile(file, { id = crypto.randomUUID(), name } = {}) {
    const now = new Date().toISOString();
    const existing = await this.store.getItem(id);
    const item = {
      ...(existing || { id, version: 0, base_version: null, has_conflict: false, seq: null }),
      kind: "binary",
      name: name || file.name || "Untitled file",
      content_type: file.type || "application/octet-stream",
      size: file.size,
      blob: file,
      content_url: null,
      modified_at: now,
      deleted: false,
    };
    item.sha256 = await sha256Hex(file);
    await this.store.recordLocal(item, {
      item_id: id,
      op: "put",
      kind: "binary",
      name: item.name,
      content_type: item.content_type,
      blob: file,
      modified_at: now,
      base_version: item.base_version || null,
      rebase: true,
    });
    await this._afterLocal([item]);
    return item;
  }

  async remove(id) {
    const existing = await this.store.getItem(id);
    if (!existing) return;
    const now = new Date().toISOString();
    const item = { ...existing, deleted: true, modified_at: now };
    await this.store.recordLocal(item, { item_id: id, op: "delete", modified_at: now, base_version: existing.base_version || null, rebase: true });
    await this._afterLocal([item]);
  }

  async _afterLocal(items) {
    await this._refreshPending();
    this._emit("items", { items, local: true });
    this.schedulePush();
  }

  // -- push

  push() {
    return this.serial.run(() => this._push());
  }

  async _push() {
    const maxBatch = (this.info && this.info.max_batch_changes) || 100;
    for (;;) {
      const all = await this.store.allPending();
      if (!all.length) break;
      // One change per item per round: a later change to an item is sent once the
      // earlier one's result is known.
      const seenItems = new Set();
      const round = [];
      for (const change of all) {
        if (seenItems.has(change.item_id)) continue;
        seenItems.add(change.item_id);
        round.push(change);
      }
      // Freeze what is about to be sent: from now on it is retried exactly as is.
      // A change that continues the local copy goes against the version the copy has
      // reached: an earlier change of this device applied since it was recorded must
      // not look like a concurrent edit to merge.
      for (const change of round) {
        if (!change.sent) {
          if (change.rebase) {
            const item = await this.store.getItem(change.item_id);
            if (item && item.base_version) change.base_version = item.base_version;
          }
          change.sent = true;
          await this.store.putPending(change);
        }
      }
      const binaries = round.filter((c) => c.blob);
      const texts = round.filter((c) => !c.blob);
      for (let i = 0; i < texts.length; i += maxBatch) {
        const batch = texts.slice(i, i + maxBatch);
        await this._pushBatch(batch, () => api.post("/sync/push", { changes: batch.map((c) => this._wire(c)) }));
      }
      // Files go one per request, so each shows its own upload progress.
      for (const change of binaries) {
        const wire = this._wire(change, await blobToB64(change.blob));
        const size = change.blob.size;
        this.uploads.set(change.item_id, { loaded: 0, total: size });
        this._emit("upload", { itemId: change.item_id, loaded: 0, total: size });
        try {
          await this._pushBatch([change], () =>
            postWithProgress("/sync/push", { changes: [wire] }, (loaded, total) => {
              const fileLoaded = Math.min(size, Math.round((loaded / total) * size));
              this.uploads.set(change.item_id, { loaded: fileLoaded, total: size });
              this._emit("upload", { itemId: change.item_id, loaded: fileLoaded, total: size });
            }),
          );
        } finally {
          this.uploads.delete(change.item_id);
          this._emit("upload", { itemId: change.item_id, done: true });
        }
      }
    }
  }

  // Send one batch. The server answers a batch with one result per change; a request it
  // refuses whole (a body over the size limit, say) would be refused again on every retry,
  // so it is split, and a single change refused that way is given up with a rejection —
  // one bad change never holds back the others. Network failures and 5xx are retried.
  async _pushBatch(batch, send) {
    let response;
    try {
      response = await send();
    } catch (err) {
      const refused = err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 403 && err.status !== 429;
      if (!refused) throw err;
      if (batch.length > 1) {
        for (const change of batch) {
          await this._pushBatch([change], () => api.post("/sync/push", { changes: [this._wire(change)] }));
        }
        return;
      }
      response = { results: [{ change_id: batch[0].change_id, status: "rejected", error: { code: err.code, message: err.message } }] };
    }
    await this._settleResults(batch, response.results);
  }

  _wire(change, contentB64) {
    const wire = { change_id: change.change_id, item_id: change.item_id, op: change.op, base_version: change.base_version ?? null, modified_at: change.modified_at };
    if (change.op === "put") {
      for (const key of ["kind", "name", "content_type", "content"]) if (change[key] !== undefined) wire[key] = change[key];
      if (contentB64 !== undefined) wire.content_b64 = contentB64;
    }
    return wire;
  }

  async _settleResults(batch, results) {
    const byId = new Map(results.map((r) => [r.change_id, r]));
    const changed = [];
    const conflicts = [];
    for (const change of batch) {
      const result = byId.get(change.change_id);
      if (!result) continue;
      if (result.status === "merged" || result.status === "conflict") conflicts.push(result);
      const item = await this.store.settle(change.change_id, (local, sent, stillPending) => {
        if (result.status === "rejected") {
          this._emit("rejected", { change: sent, error: result.error, item: local });
          if (!local) return null;
          return { ...local, local: stillPending, sync_error: result.error ? result.error.message : "Rejected" };
        }
        const head = result.item;
        if (!local) return null;
        const next = { ...local, version: head.version, has_conflict: head.has_conflict, seq: head.seq, updated_at: head.updated_at, device_id: head.device_id, sync_error: null, local: stillPending };
        const ownHead = result.status === "conflict" && this.device && head.device_id === this.device.id;
        if (result.status === "applied" || result.status === "unchanged" || ownHead) {
          // The server's head now is what was sent (a conflict this change won makes it
          // the head too): later local edits derive from it.
          next.base_version = head.version;
        }
        // merged, or a conflict lost: the head differs from what was sent; the pull that
        // follows brings it, and later local edits are carried onto a merge (below).
        return next;
      });
      if (item) changed.push(item);
    }
    await this._refreshPending();
    if (changed.length) this._emit("items", { items: changed });
    if (conflicts.length) this._emit("conflicts", { results: conflicts });
    for (const change of batch) {
      const result = byId.get(change.change_id);
      if (result && result.status === "merged") await this._adoptMerge(change);
    }
  }

  // The server merged a sent text with another device's change. Take the merged head at
  // once, before anything else is saved on top of the sent text: edits made since it was
  // sent continue that text, not the head, and are carried onto the head (Store.adoptMerge)
  // so they go out against it instead of meeting the sent text as a concurrent edit.
  async _adoptMerge(sent) {
    if (sent.kind !== "text" || typeof sent.content !== "string") return;
    let head;
    try {
      head = await api.get(`/items/${sent.item_id}/`);
    } catch {
      return; // the pull brings it
    }
    if (head.kind !== "text" || head.deleted) return;
    const item = await this.store.adoptMerge(sent.item_id, sent.content, head, await editCarrier());
    if (item) this._emit("items", { items: [item] });
  }

  // -- reads for pages

  async items() {
    await this.ready;
    return (await this.store.allItems()).filter((i) => !i.deleted);
  }

  async item(id) {
    await this.ready;
    return this.store.getItem(id);
  }

  // Binary content: from the local copy, else fetched once and kept for offline use.
  async blobFor(item) {
    if (item.blob) return item.blob;
    const url = item.content_url || `/api/v1/items/${item.id}/versions/${item.version}/content`;
    const blob = await api.blob(url);
    const current = await this.store.getItem(item.id);
    if (current && current.sha256 === item.sha256 && !current.blob) await this.store.putItem({ ...current, blob });
    return blob;
  }

  // -- the socket

  _connect() {
    if (this.stopped || (this.socket && this.socket.readyState <= 1)) return;
    let socket;
    try {
      socket = new WebSocket(this.wsUrl);
    } catch {
      this._scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this._onMessage(message);
    };
    socket.onclose = (event) => {
      if (this.socket === socket) {
        this.socket = null;
        this.socketOpen = false;
        this._emitStatus();
      }
      if (event.code === 4403) {
        this._revoked("revoked");
        return;
      }
      if (event.code === 4401) {
        this._revoked("signed_out");
        return;
      }
      if (!this.stopped) {
        if (this.state !== "revoked") this._setState(navigator.onLine ? "syncing" : "offline");
        this._scheduleReconnect();
      }
    };
  }

  async _onMessage(message) {
    switch (message.type) {
      case "hello":
        this.device = message.device;
        await this.store.setMeta("device", message.device);
        this.socketOpen = true;
        this.reconnectDelay = RECONNECT_MIN_MS;
        this._emit("hello", message);
        this._send({ type: "subscribe", since: await this.store.getMeta("cursor", "") });
        // Anything saved while the socket was connecting goes out now.
        if (this.pending) this.schedulePush();
        this._settleState();
        break;
      case "changes":
        await this.serial.run(() => this._applyServer(message.changes, message.cursor));
        break;
      case "device":
        this._emit("device", message.device);
        break;
      case "conflict":
        this._emit("conflict", message.conflict);
        break;
      case "handoff.offer":
        this._emit("offer", message.offer);
        break;
      case "handoff.continued":
        this._emit("continued", message.offer);
        break;
      case "error":
        if (message.code === "resync_required" || message.code === "bad_cursor") {
          await this.store.setMeta("cursor", "");
          this.pull().then(() => this._send({ type: "subscribe", since: "" }), () => {});
        }
        break;
      default:
        break;
    }
  }

  _send(message) {
    if (this.socket && this.socket.readyState === 1) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }
}
