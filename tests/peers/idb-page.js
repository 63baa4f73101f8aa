// The raw `idb` peer, loaded by the bench page (bundled by bench-peers.mjs): a queue reduced to its
// bare write, one readwrite transaction per Blob that has committed before the next begins, with the
// browser's default durability or 'strict' (what Ferry asks for). raw-sw.js sends these records.
import { openDB } from 'idb';

export function open() {
  return openDB('raw', 1, { upgrade: (db) => db.createObjectStore('queue', { autoIncrement: true }) });
}

/** Stores every Blob with its URL; resolves with the time taken (ms). */
export async function putAll(db, blobs, url, durability) {
  const t0 = performance.now();
  for (const blob of blobs) {
    const tx = db.transaction('queue', 'readwrite', { durability });
    await Promise.all([tx.store.put({ blob, url }), tx.done]);
  }
  return performance.now() - t0;
}
