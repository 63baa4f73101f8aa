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

/**
 * The floor of a queue with Ferry's guarantees, in plain `idb`: Ferry's enqueue transaction written by
 * hand in its schema (a task store with its four indexes, Blobs, a per-tag outbox, counters). One strict
 * transaction per upload that reads the tag's two sequence numbers, its session and what is in flight,
 * then adds the task, its Blob and its `queued` event and writes both counters. No validation, no wasm.
 */
export function openShaped() {
  return openDB('shaped', 1, {
    upgrade(db) {
      const tasks = db.createObjectStore('tasks', { keyPath: 'id' });
      tasks.createIndex('by_tag_seq', ['tag', 'seq'], { unique: true });
      tasks.createIndex('by_due', ['state', 'nextAttemptAt']);
      tasks.createIndex('by_lease', ['state', 'leaseUntil']);
      tasks.createIndex('by_state', ['state', 'createdAt']);
      db.createObjectStore('blobs');
      db.createObjectStore('outbox', { keyPath: ['tag', 'seq'] }).createIndex('by_task', 'taskId');
      db.createObjectStore('meta');
    },
  });
}

/** Stores every Blob as Ferry's enqueue does, one upload committed before the next; resolves with ms. */
export async function enqueueAll(db, blobs, url) {
  const tag = 'bench';
  const t0 = performance.now();
  for (const blob of blobs) {
    const tx = db.transaction(['tasks', 'blobs', 'outbox', 'meta'], 'readwrite', { durability: 'strict' });
    const [tasks, store, outbox, meta] = ['tasks', 'blobs', 'outbox', 'meta'].map((n) => tx.objectStore(n));
    const [seq = 0, eventSeq = 0] = await Promise.all([
      meta.get(`taskseq:${tag}`), meta.get(`eventseq:${tag}`), meta.get(`session:${tag}`),
      tasks.index('by_lease').getAll(IDBKeyRange.bound(['inFlight', 0], ['inFlight', Number.MAX_SAFE_INTEGER])),
    ]);
    const now = Date.now();
    const id = crypto.randomUUID();
    await Promise.all([
      tasks.add({ id, tag, seq: seq + 1, state: 'queued', nextAttemptAt: now, createdAt: now, attempt: 0,
        request: { url, method: 'POST', headers: [], protocol: 'http' }, body: { size: blob.size, type: blob.type },
        idempotencyKey: crypto.randomUUID() }),
      store.put(blob, id),
      outbox.add({ tag, seq: eventSeq + 1, kind: 'queued', taskId: id }),
      meta.put(seq + 1, `taskseq:${tag}`),
      meta.put(eventSeq + 1, `eventseq:${tag}`),
      tx.done,
    ]);
  }
  return performance.now() - t0;
}
