// The peer in `cargo xtask bench`: Workbox background-sync's Queue, in its own service worker (scope
// /wb/), driven by messages from the bench page. Bundled by bench-peers.mjs with esbuild.
import { Queue } from 'workbox-background-sync';

// Replays only when told (`replayRequests`), like Ferry's paused session only sends when resumed: the
// bench decides when delivery starts for both.
const queue = new Queue('bench', { maxRetentionTime: 24 * 60, forceSyncFallback: true });

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('message', (event) => {
  const { op, blob, url } = event.data;
  const reply = event.ports[0];
  const run = async () => {
    const t0 = performance.now();
    if (op === 'push') {
      // What an app using Workbox does with a failed (or deferred) upload: hand the request to the queue.
      await queue.pushRequest({ request: new Request(url, { method: 'POST', body: blob, headers: { 'content-type': blob.type } }) });
    } else if (op === 'replay') {
      await queue.replayRequests();
    }
    return performance.now() - t0;
  };
  event.waitUntil(run().then((ms) => reply.postMessage({ ms }), (e) => reply.postMessage({ error: String(e) })));
});
