// The browser client's entry point on every app page: start the sync client, the page
// furniture and handoff, then the page's own module (static/js/pages/<page>.js, named by
// the template in data-page-module).
import { Handoff } from "./core/handoff.js";
import { SyncClient } from "./core/sync.js";
import { mountChrome, toast } from "./core/ui.js";

async function boot() {
  const page = document.body.dataset.page;
  const userId = document.body.dataset.user;
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  }
  const client = new SyncClient({ userId });
  const handoff = new Handoff(client);
  // For the end-to-end tests and benchmarks, and for debugging from the console.
  window.cloudsaves = { client, handoff };
  mountChrome(client);
  handoff.mount();
  // The template names the page's module by its served (in production, fingerprinted) URL.
  const pageModule = page ? import(document.body.dataset.pageModule) : null;
  const started = client.start();
  if (pageModule) {
    // The page reads the local copy as soon as it is open (client.ready), while the
    // client finishes starting.
    const { mount } = await pageModule;
    await mount({ client, handoff, root: document.getElementById("app") });
  }
  await started;
  document.body.dataset.ready = "true";
}

boot().catch((err) => {
  console.error(err);
  toast(`The app could not start: ${err.message}`, { kind: "error", timeout: 0 });
});
