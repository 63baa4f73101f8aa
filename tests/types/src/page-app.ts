// A typed page using every part of the page API, as an app would: checked with tsc --strict.
import { Ferry } from 'ferry-upload';
import type {
  FerryError,
  FerryErrorName,
  FerryEvent,
  FerryEventMap,
  FerryResponse,
  Session,
  SessionOptions,
  Task,
  TaskState,
  UploadRequest,
} from 'ferry-upload';

const registration: ServiceWorkerRegistration = await navigator.serviceWorker.register('/sw.js', { type: 'module' });

const options: SessionOptions = {
  serviceWorker: { url: '/sw.js', type: 'module' },
  retry: { maxAttempts: 8, baseMs: 1000, capMs: 300_000, maxRetentionMs: 7 * 24 * 3600_000 },
  concurrency: 2,
  launch: 'open',
  ack: 'manual',
  backgroundFetch: false,
  headerProvider: async (task: Task) => ({ Authorization: `Bearer ${task.id}` }),
  headerFallback: 'last',
  batchWindowMs: 60_000,
  attemptTimeoutMs: 120_000,
};
const session: Session = await Ferry.register('photos', options);
const other = await Ferry.register('docs', { serviceWorker: registration, backgroundFetch: { minBytes: 1024 * 1024 } });
const classic = await Ferry.register('legacy', { serviceWorker: { url: '/classic-sw.js', type: 'classic' } });
const scoped = await Ferry.register('scoped', { serviceWorker: { url: new URL('/sw.js', location.href), scope: '/app/', updateViaCache: 'none' } });
scoped.close();
const plain = await Ferry.register('plain', { serviceWorker: '/sw.js', headerProvider: () => new Headers({ 'X-A': '1' }) });
const tag: string = session.tag;

// Every event kind, with the detail type inferred from the name.
session.addEventListener('queued', (e) => console.log(e.detail.bytesTotal.toFixed(0), e.detail.seq));
session.addEventListener('started', (e) => {
  const how: 'backgroundFetch' | 'backgroundSync' | 'fallback' = e.detail.transport;
  console.log(e.detail.attempt, how);
});
session.addEventListener('progress', (e) => console.log(e.detail.bytesSent / e.detail.bytesTotal));
session.addEventListener('retrying', (e) => console.log(e.detail.delayMs, e.detail.reason, e.detail.attempt));
session.addEventListener('completed', (e) => {
  const r: FerryResponse = e.detail.response;
  console.log(r.status, r.headers['etag'], r.body.length);
});
session.addEventListener('failed', (e) => console.log(e.detail.reason, e.detail.response?.status));
session.addEventListener('cancelled', (e) => console.log(e.detail.taskId));
session.addEventListener('expired', (e) => console.log(e.detail.reason), { once: true });
const onDone = (e: CustomEvent<FerryEventMap['completed']>) => session.ack(e.detail.seq);
session.addEventListener('completed', onDone, false);
session.removeEventListener('completed', onDone);
session.addEventListener('failed', { handleEvent: (e) => console.log(e.detail.kind) });

// One handler for every kind: narrowing on `kind`.
function describe(ev: FerryEvent): string {
  switch (ev.kind) {
    case 'queued': return `${ev.taskId} queued (${ev.bytesTotal} bytes)`;
    case 'started': return `attempt ${ev.attempt} via ${ev.transport}`;
    case 'progress': return `${ev.bytesSent}/${ev.bytesTotal}`;
    case 'retrying': return `retry in ${ev.delayMs} ms: ${ev.reason}`;
    case 'completed': return `done: ${ev.response.status}`;
    case 'failed': return `failed: ${ev.reason}`;
    case 'cancelled': return 'cancelled';
    case 'expired': return `expired: ${ev.reason}`;
  }
}
const kinds = ['queued', 'started', 'progress', 'retrying', 'completed', 'failed', 'cancelled', 'expired'] as const;
for (const kind of kinds) other.addEventListener(kind, (e) => console.log(describe(e.detail)));

// Uploads of each protocol.
const file = new File([new Uint8Array(4)], 'a.bin', { type: 'application/octet-stream' });
const http: UploadRequest = { url: '/upload', method: 'PUT', headers: { 'X-Album': '7' }, protocol: 'http' };
const id: string = await session.upload(file, http);
await session.upload(file, {
  url: '/upload', protocol: 'multipart', field: 'file', filename: 'a.bin', fields: { album: '7' },
  earliestBegin: Date.now() + 60_000, expiresAt: Date.now() + 86_400_000, retry: { maxAttempts: 3 }, discretionary: true,
});
await session.upload(new Blob(['x']), { url: '/files/', protocol: 'tus', chunkSize: 5 * 1024 * 1024, metadata: { name: 'a' } });
await session.upload(file, { url: '/s3/videos/a.mp4', protocol: 's3-multipart', chunkSize: 8 * 1024 * 1024 });
await session.upload(file, { url: '/upload', headers: new Headers({ 'X-Album': '7' }) });
await session.upload(file, { url: '/upload', headers: [['X-Album', '7']] });
await session.upload(file, { url: '/upload', headers: new Map([['X-Album', '7']]) });
await session.upload(file, { url: new URL('/upload', location.href) });
await session.upload(file, { url: '/upload', appData: JSON.stringify({ photoId: 42 }) });
await session.upload(file, { url: 'https://api.example.com/upload', credentials: 'include' });
await session.upload(file, { url: '/upload', method: 'put' });
await session.upload(file, { url: '/upload', protocol: 'tus', method: 'post' });
await Ferry.register('by-url', { serviceWorker: new URL('/sw.js', location.href) });
await Ferry.register('by-url-classic', { serviceWorker: { url: new URL('/sw.js', location.href), type: 'classic' } });

// Tasks.
const tasks: Task[] = await session.list();
for (const t of tasks) {
  const state: TaskState = t.state;
  const key: string = t.idempotencyKey;
  const next: number | null = t.nextAttemptAt;
  const headers: [string, string][] = t.request.headers;
  if (t.request.protocol.kind === 'tus') console.log(t.request.protocol.uploadUrl ?? 'not created yet');
  if (t.request.protocol.kind === 's3-multipart') console.log(t.request.protocol.uploadId, t.request.protocol.etags.length);
  const appData: string | null = t.appData;
  const credentials: 'omit' | 'same-origin' | 'include' = t.request.credentials;
  console.log(state, key, next, headers, t.body.size, t.body.name, t.retry.maxAttempts, t.transport, t.lastStatus, appData, credentials);
}
const one: Task | null = await session.get(id);
const wasPending: boolean = await session.cancel(id);
const removed: number = await session.clear();
await session.pause();
await session.resume();
await session.ack(3);
console.log(one?.state, wasPending, removed, tag);
session.close();
classic.close();
plain.close();

// Errors: branch on the stable name.
try {
  await other.cancel('nope');
} catch (err) {
  const e = err as FerryError;
  const name: FerryErrorName = e.name;
  if (name === 'FerryUnknownTask' || name === 'FerryClosed') console.log(e.message);
}
