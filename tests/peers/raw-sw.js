// The floor in `cargo xtask bench`: a bare fetch loop in a service worker. The page stores
// `{ blob, url }` records with npm `idb` (see idb-page.js); a `sync` event tagged `raw-<n>` reads them all
// and POSTs each stored Blob with `fetch`, `n` at a time. No retries, no bookkeeping: the speed of fetch.
import { openDB } from 'idb';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('sync', (event) => {
  const m = /^raw-(\d+)$/.exec(event.tag);
  if (!m) return;
  const lanes = Number(m[1]);
  event.waitUntil((async () => {
    const db = await openDB('raw', 1, { upgrade: (d) => d.createObjectStore('queue', { autoIncrement: true }) });
    const records = await db.getAll('queue');
    let next = 0;
    const lane = async () => {
      while (next < records.length) {
        const { blob, url } = records[next++];
        await fetch(url, { method: 'POST', body: blob, headers: { 'content-type': blob.type } });
      }
    };
    await Promise.all(Array.from({ length: lanes }, lane));
    db.close();
  })());
});
