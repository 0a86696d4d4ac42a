{% autoescape off %}// Cloud-Saves service worker, version {{ version }}.
// It keeps the app shell (the pages' HTML, scripts, styles and icons) so the app opens
// with the network off; the data itself lives in IndexedDB and is never cached here.
// The API, the WebSocket, the account pages and the admin always go to the network.
"use strict";

const VERSION = "{{ version }}";
const CACHE = `cloudsaves-shell-${VERSION}`;
const ASSETS = {{ assets }};
const SHELLS = {{ shells }};
const FALLBACK = {{ fallback }};
const NETWORK_ONLY = ["/api/", "/ws/", "/accounts/", "/admin/", "/healthz", "/sw.js"];

// Which shell serves a page: every item (or conflict) page shares one.
const SHELL_ROUTES = [
  [/^\/items\/$/, SHELLS[0]],
  [/^\/items\/[0-9a-f-]{36}\/$/, SHELLS[1]],
  [/^\/items\/[0-9a-f-]{36}\/history\/$/, SHELLS[2]],
  [/^\/conflicts\/$/, SHELLS[3]],
  [/^\/conflicts\/[0-9a-f-]{36}\/$/, SHELLS[4]],
  [/^\/devices\/$/, SHELLS[5]],
];

function shellFor(pathname) {
  for (const [pattern, shell] of SHELL_ROUTES) if (pattern.test(pathname)) return shell;
  return null;
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(ASSETS);
      // Shells need the session: one that answers with a redirect (signed out) is skipped.
      await Promise.all(
        SHELLS.map(async (url) => {
          try {
            const response = await fetch(url, { credentials: "same-origin" });
            if (response.ok && !response.redirected) await cache.put(url, response);
          } catch {
            /* offline during install: the page visits fill the cache later */
          }
        }),
      );
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith("cloudsaves-shell-") && key !== CACHE) await caches.delete(key);
      }
      await self.clients.claim();
    })(),
  );
});

async function page(request, url) {
  const shell = shellFor(url.pathname);
  try {
    const response = await fetch(request);
    if (shell && response.ok && !response.redirected) {
      const cache = await caches.open(CACHE);
      await cache.put(shell, response.clone());
    }
    if (response.status >= 502 && response.status <= 504 && shell) {
      // The proxy answered for a server that is down: the app still opens, from its copy.
      const cached = await caches.match(shell);
      if (cached) return cached;
    }
    return response;
  } catch (err) {
    const cached = (shell && (await caches.match(shell))) || (await caches.match(FALLBACK));
    if (cached) return cached;
    throw err;
  }
}

async function asset(request) {
  const cached = await caches.match(request, { ignoreSearch: true });
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    const cache = await caches.open(CACHE);
    await cache.put(request, response.clone());
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (NETWORK_ONLY.some((prefix) => url.pathname.startsWith(prefix))) return;
  if (request.mode === "navigate") {
    event.respondWith(page(request, url));
  } else if (ASSETS.includes(url.pathname) || url.pathname === "/manifest.webmanifest") {
    event.respondWith(asset(request));
  }
});

// Signing out clears the offline copies (the page posts this before leaving).
self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "clear") {
    event.waitUntil(caches.keys().then((keys) => Promise.all(keys.map((k) => caches.delete(k)))));
  }
});
{% endautoescape %}
