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
  // transaction so a reload never sees one without the other. A change not yet sent
  // is updated in place (typing coalesces into one change); once sent it is frozen,
  // because a retry must carry exactly the same payload under the same change id.
  async recordLocal(item, change) {
    const tx = this.db.transaction(["items", "pending"], "readwrite");
    const pending = tx.objectStore("pending");
    const existing = (await pending.index("item_id").getAll(item.id)).sort((a, b) => a.order - b.order);
    const open = existing.find((c) => !c.sent);
    let stored;
    if (open && !(change.op === "put" && open.op === "delete")) {
      stored = { ...open, ...change, change_id: open.change_id, order: open.order, base_version: open.base_version, rebase: open.rebase, sent: false };
    } else {
      stored = { ...change, change_id: crypto.randomUUID(), order: Date.now() + Math.random(), sent: false };
    }
    await pending.put(stored);
    await tx.objectStore("items").put({ ...item, local: true });
    await tx.done;
    return stored;
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
