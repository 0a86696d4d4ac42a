// The browser's local copy, in IndexedDB (one database per user):
//   items    the user's items as this browser knows them, with local edits applied
//   pending  changes not yet confirmed by the server, each with its change id
//   meta     the pull cursor and other small values
//
// An item record holds the server's fields (version, seq, has_conflict, ...) plus:
//   content       text content (text items), local edits included
//   blob          binary content as a Blob, or null when not fetched yet
//   content_url   where to fetch binary content the pull did not inline
//   base_version  the server version the local content derives from
//   local         true while it has changes the server has not confirmed
import { openDB } from "../../vendor/idb-8.0.3/index.js";

const DB_VERSION = 1;

export async function openStore(userId) {
  const db = await openDB(`cloudsaves-${userId}`, DB_VERSION, {
    upgrade(db) {
      db.createObjectStore("items", { keyPath: "id" });
      const pending = db.createObjectStore("pending", { keyPath: "change_id" });
      pending.createIndex("item_id", "item_id");
      pending.createIndex("order", "order");
      db.createObjectStore("meta");
    },
    blocking() {
      // A newer version of the app wants to upgrade the database: let it.
      db.close();
    },
  });
  return new Store(db);
}

// Queue a local change in the pending store (inside the caller's transaction). A change
// not yet sent absorbs the new one (typing coalesces into one change), keeping its place
// in line and, with `keepOpenBase`, the version it was made against; a put after an
// unsent delete is a change of its own. Once sent a change is frozen: a retry must carry
// exactly the same payload under the same change id.
async function queueChange(pending, change, keepOpenBase) {
  const waiting = await pending.index("item_id").getAll(change.item_id);
  const open = waiting.sort((a, b) => a.order - b.order).find((c) => !c.sent);
  let stored;
  if (open && !(change.op === "put" && open.op === "delete")) {
    stored = { ...open, ...change, change_id: open.change_id, order: open.order, sent: false };
    if (keepOpenBase) Object.assign(stored, { base_version: open.base_version, rebase: open.rebase });
  } else {
    stored = { ...change, change_id: crypto.randomUUID(), order: Date.now() + Math.random(), sent: false };
  }
  await pending.put(stored);
  return stored;
}

export class Store {
  constructor(db) {
    this.db = db;
  }

  // -- meta
  async getMeta(key, fallback = null) {
    const value = await this.db.get("meta", key);
    return value === undefined ? fallback : value;
  }

  setMeta(key, value) {
    return this.db.put("meta", value, key);
  }

  // -- items
  getItem(id) {
    return this.db.get("items", id);
  }

  allItems() {
    return this.db.getAll("items");
  }

  putItem(item) {
    return this.db.put("items", item);
  }

  // -- pending changes, oldest first
  allPending() {
    return this.db.getAllFromIndex("pending", "order");
  }

  pendingFor(itemId) {
    return this.db.getAllFromIndex("pending", "item_id", itemId);
  }

  async countPending() {
    return this.db.count("pending");
  }

  putPending(change) {
    return this.db.put("pending", change);
  }

  // Record a local edit: the item's new local state and its pending change, in one
  // transaction so a reload never sees one without the other.
  async recordLocal(item, change) {
    const tx = this.db.transaction(["items", "pending"], "readwrite");
    const stored = await queueChange(tx.objectStore("pending"), change, true);
    await tx.objectStore("items").put({ ...item, local: true });
    await tx.done;
    return stored;
  }

  // A text edit, in one transaction. `derivedFrom` is the text the edit started from (what
  // the editor showed). If the local copy has moved on since (another device's change was
  // pulled, a merge came back), the edit is carried onto the new text by
  // `carry(from, to, onto)`; if it does not apply cleanly it is sent against the version
  // it started from, and the server merges it (or keeps both sides).
  async recordText(id, { content, name, modifiedAt, derivedFrom, carry }) {
    const tx = this.db.transaction(["items", "pending"], "readwrite");
    const items = tx.objectStore("items");
    const pending = tx.objectStore("pending");
    const cur = await items.get(id);
    let text = content;
    let base = cur ? (cur.base_version ?? null) : null;
    let follows = true;
    if (derivedFrom && cur && (cur.content ?? "") !== derivedFrom.content) {
      const carried = carry(derivedFrom.content, content, cur.content ?? "");
      if (carried !== null) {
        text = carried;
      } else {
        base = derivedFrom.version ?? null;
        follows = false;
      }
    }
    const item = {
      ...(cur || { id, kind: "text", content_type: "text/plain", version: 0, has_conflict: false, seq: null }),
      content: text,
      name: name ?? cur?.name ?? "Untitled note",
      size: new TextEncoder().encode(text).length,
      sha256: cur && cur.content === text ? cur.sha256 : null,
      modified_at: modifiedAt,
      deleted: false,
      base_version: base,
      local: true,
    };
    const change = {
      item_id: id,
      op: "put",
      kind: "text",
      name: item.name,
      content_type: item.content_type || "text/plain",
      content: text,
      modified_at: modifiedAt,
      base_version: base,
      // Continuing the local copy: sent against whatever version it has reached by then.
      rebase: follows,
    };
    // A text that could not be carried over goes against the version it started from.
    await queueChange(pending, change, follows);
    await items.put(item);
    await tx.done;
    return item;
  }

  // Apply a page of server state (pull or socket) and move the cursor, atomically.
  // `merge(existing, incoming, hasPending)` returns the record to keep.
  // Relaxed durability: a page lost to a crash is pulled again, since the cursor is
  // written in the same transaction. Local edits keep the default (they exist nowhere else).
  async applyServerPage(changes, cursor, merge) {
    const tx = this.db.transaction(["items", "pending", "meta"], "readwrite", { durability: "relaxed" });
    const items = tx.objectStore("items");
    // Pending changes are few: one read of their item ids serves the whole page.
    const pendingIds = new Set((await tx.objectStore("pending").getAll()).map((c) => c.item_id));
    const applied = [];
    const writes = [];
    for (const change of changes) {
      const hasPending = pendingIds.has(change.id);
      // A text item the server sends whole, with nothing local to keep, needs no read.
      const needsExisting = hasPending || change.kind !== "text" || change.content === undefined;
      const existing = needsExisting ? await items.get(change.id) : undefined;
      const next = merge(existing, change, hasPending);
      if (next) {
        // Queued, not awaited one by one: the transaction runs them in order, and the
        // page stays free while a thousand rows are written.
        writes.push(items.put(next));
        applied.push(next);
      }
    }
    if (cursor !== undefined && cursor !== null) writes.push(tx.objectStore("meta").put(cursor, "cursor"));
    await Promise.all(writes);
    await tx.done;
    return applied;
  }

  // A push result: drop the confirmed change and update its item in one transaction.
  async settle(changeId, update) {
    const tx = this.db.transaction(["items", "pending"], "readwrite");
    const pending = tx.objectStore("pending");
    const change = await pending.get(changeId);
    if (!change) {
      await tx.done;
      return null;
    }
    await pending.delete(changeId);
    const items = tx.objectStore("items");
    const item = await items.get(change.item_id);
    const stillPending = (await pending.index("item_id").count(change.item_id)) > 0;
    const next = update(item, change, stillPending);
    if (next) await items.put(next);
    await tx.done;
    return next;
  }

  // The server merged a sent text (`sent`) with another device's change into `head`.
  // The local copy takes the head; edits made since the text was sent, still unsent, are
  // carried onto it by `carry(from, to, onto)` (null: they stay as they are, and the
  // server merges them when they go out).
  async adoptMerge(itemId, sent, head, carry) {
    const tx = this.db.transaction(["items", "pending"], "readwrite");
    const pending = tx.objectStore("pending");
    const items = tx.objectStore("items");
    const item = await items.get(itemId);
    const waiting = await pending.index("item_id").getAll(itemId);
    const open = waiting.find((c) => !c.sent && c.op === "put" && typeof c.content === "string");
    let content = null;
    if (open) {
      content = carry(sent, open.content, head.content);
      if (content !== null) await pending.put({ ...open, content, base_version: head.version });
    } else if (!waiting.length && item && item.content === sent) {
      content = head.content;
    }
    if (content === null || !item) {
      await tx.done;
      return null;
    }
    const next = {
      ...item,
      content,
      size: new TextEncoder().encode(content).length,
      sha256: content === head.content ? head.sha256 : null,
      version: head.version,
      base_version: head.version,
      has_conflict: head.has_conflict,
      seq: head.seq,
      updated_at: head.updated_at,
      local: Boolean(open),
    };
    await items.put(next);
    await tx.done;
    return next;
  }

  // Full resync: forget the cursor and every item the server did not send again,
  // except those with local changes.
  async dropItemsNotIn(seenIds) {
    const tx = this.db.transaction(["items", "pending"], "readwrite");
    const keep = new Set((await tx.objectStore("pending").getAll()).map((c) => c.item_id));
    const items = tx.objectStore("items");
    const gone = (await items.getAllKeys()).filter((id) => !seenIds.has(id) && !keep.has(id));
    await Promise.all(gone.map((id) => items.delete(id)));
    await tx.done;
  }
}
