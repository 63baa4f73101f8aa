// The demo's service worker: Ferry does the uploads; the rest makes the demo an installable app that opens
// offline. The app shell (the page, its script and style, the icons and the Ferry page package) is cached
// at install and served cache-first, refreshed in the background so the next load sees a newer build;
// every other request (uploads, the server's API, other pages) goes to the network untouched.
import { installFerry } from '/ferry/worker.js';

installFerry(self, {});

const SHELL_CACHE = 'ferry-demo-shell-v1';
const SHELL = ['/', '/app.js', '/style.css', '/manifest.webmanifest', '/icons/ferry.svg', '/icons/ferry-192.png', '/icons/ferry-512.png'];
// The page loads Ferry from /ferry/index.js; what that imports (glue, wasm) is found by following its imports,
// so the shell keeps up with the package's layout.
const PACKAGE_ENTRY = '/ferry/index.js';

/** `/index.html` is the same document as `/`; everything else is cached under its own path. */
const shellKey = (url) => (url.pathname === '/index.html' ? '/' : url.pathname);
const inShell = (url) => url.origin === self.location.origin
  && (SHELL.includes(shellKey(url)) || url.pathname.startsWith('/ferry/'));

/** The package files the page needs: the entry and every relative module or `new URL(…, import.meta.url)` it names. */
async function packageFiles(cache) {
  const seen = new Set();
  const pending = [new URL(PACKAGE_ENTRY, self.location.origin)];
  while (pending.length) {
    const url = pending.pop();
    if (seen.has(url.pathname)) continue;
    seen.add(url.pathname);
    const res = await fetch(url, { cache: 'no-cache' }).catch(() => null);
    // A name that only looks like a reference (one in a comment, say) is skipped, not fatal to the rest.
    if (!res?.ok) {
      console.warn('demo shell: not cached', url.pathname, res?.status);
      continue;
    }
    await cache.put(url.pathname, res.clone());
    if (!url.pathname.endsWith('.js')) continue;
    const source = await res.text();
    const refs = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]|new URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url/g;
    for (const m of source.matchAll(refs)) {
      const ref = new URL(m[1] ?? m[2], url);
      if (ref.origin === url.origin && ref.pathname.startsWith('/ferry/')) pending.push(ref);
    }
  }
}

async function precache() {
  const cache = await caches.open(SHELL_CACHE);
  // Best effort, file by file: a missing icon must not keep the worker (and with it every upload) from installing.
  const results = await Promise.allSettled([
    ...SHELL.map(async (path) => {
      const res = await fetch(path, { cache: 'no-cache' });
      if (!res.ok) throw new Error(`${path}: ${res.status}`);
      await cache.put(path, res);
    }),
    packageFiles(cache),
  ]);
  for (const r of results) if (r.status === 'rejected') console.warn('demo shell not cached:', r.reason);
}

async function refresh(key) {
  try {
    const res = await fetch(key, { cache: 'no-cache' });
    if (res.ok) await (await caches.open(SHELL_CACHE)).put(key, res);
  } catch {
    // Offline: the cached copy stays.
  }
}

async function shell(event, url) {
  const key = shellKey(url);
  const cached = await caches.match(key, { cacheName: SHELL_CACHE });
  if (!cached) return fetch(event.request);
  event.waitUntil(refresh(key));
  return cached;
}

self.addEventListener('install', (event) => {
  self.skipWaiting();
  event.waitUntil(precache());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('ferry-demo-shell-') && name !== SHELL_CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || !inShell(url)) return;
  event.respondWith(shell(event, url));
});
