// The sign-out page: signing out removes this browser's copy of the account (the server
// answers with Clear-Site-Data), so say so first when changes made here have not reached
// the server yet.
import { openDB } from "../vendor/idb-8.0.3/index.js";

async function unsentChanges(userId) {
  const name = `cloudsaves-${userId}`;
  if (indexedDB.databases && !(await indexedDB.databases()).some((d) => d.name === name)) return 0;
  const db = await openDB(name);
  try {
    return db.objectStoreNames.contains("pending") ? await db.count("pending") : 0;
  } finally {
    db.close();
  }
}

const note = document.querySelector("[data-signout-pending]");
if (note && note.dataset.user) {
  unsentChanges(note.dataset.user)
    .then((count) => {
      if (!count) return;
      note.querySelector("[data-signout-pending-text]").textContent =
        `${count} change${count === 1 ? "" : "s"} made on this browser ${count === 1 ? "has" : "have"} not reached the server yet. Signing out now deletes ${count === 1 ? "it" : "them"}: open the app while online and wait for “Synced” first.`;
      note.hidden = false;
    })
    .catch(() => {});
}
