// The Workbox peer in `cargo xtask bench`: background-sync's Queue with its defaults (a `sync` registration
// per push; the `sync` event replays the queue with `replayRequests`), in its own service worker (its
// origin's only one), driven by messages from the bench page. Bundled by bench-peers.mjs with esbuild.
import { Queue } from 'workbox-background-sync';

const TAG = 'workbox-background-sync:bench';
// While the bench fills the queue, the sync events that pushRequest registers replay nothing (sending is
// held back for every contender while it stores). A new worker instance starts without the hold: the
// bench stops the worker before it dispatches the sync it measures.
let hold = false;
const queue = new Queue('bench', {
  maxRetentionTime: 24 * 60,
  onSync: async ({ queue }) => {
    if (!hold) await queue.replayRequests();
  },
});

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('message', (event) => {
  const { op, blobs, url } = event.data;
  const reply = event.ports[0];
  const run = async () => {
    if (op === 'hold') {
      hold = true;
      return 0;
    }
    if (op === 'release') {
      hold = false;
      return 0;
    }
    if (op === 'push') {
      // What an app using Workbox does with an upload to send later: hand the request to the queue.
      const t0 = performance.now();
      for (const blob of blobs) {
        await queue.pushRequest({ request: new Request(url, { method: 'POST', body: blob, headers: { 'content-type': blob.type } }) });
      }
      return performance.now() - t0;
    }
    if (op === 'settle') {
      // The held sync events have run (their registrations are gone): none is left to replay later.
      const end = Date.now() + 20000;
      while ((await self.registration.sync.getTags()).includes(TAG)) {
        if (Date.now() > end) throw new Error('workbox sync registration still pending after 20 s');
        await new Promise((r) => setTimeout(r, 20));
      }
      return 0;
    }
    throw new Error(`unknown op ${op}`);
  };
  event.waitUntil(run().then((ms) => reply.postMessage({ ms }), (e) => reply.postMessage({ error: String(e) })));
});
