// Misuse the declarations must refuse: each `@ts-expect-error` line must be an error under tsc --strict
// (an unused directive is itself an error, so a declaration that went `any` fails this file).
import { Ferry } from 'ferry-upload';
import type { FerryErrorName, FerryEvent, Task } from 'ferry-upload';

const session = await Ferry.register('photos', { serviceWorker: '/sw.js' });

// Wrong event names.
// @ts-expect-error 'complete' is not an event kind
session.addEventListener('complete', () => {});
// @ts-expect-error 'done' is not an event kind
session.removeEventListener('done', () => {});

// Wrong detail fields for the kind.
// @ts-expect-error progress has no response
session.addEventListener('progress', (e) => e.detail.response);
// @ts-expect-error completed has no bytesSent
session.addEventListener('completed', (e) => e.detail.bytesSent.toFixed());
// @ts-expect-error status is a number
session.addEventListener('completed', (e) => e.detail.response.status.toUpperCase());
// @ts-expect-error a failed event's response may be missing
session.addEventListener('failed', (e) => e.detail.response.status);
// @ts-expect-error the listener of 'queued' gets a queued event, not a progress event
session.addEventListener('queued', (e: CustomEvent<{ kind: 'progress' }>) => e);
session.addEventListener('completed', (e) => {
  // @ts-expect-error detail is not `any`
  const n: number = e.detail;
  return n;
});

// Bad option types.
// @ts-expect-error serviceWorker is required
await Ferry.register('photos', {});
// @ts-expect-error concurrency is a number
await Ferry.register('photos', { serviceWorker: '/sw.js', concurrency: '2' });
// @ts-expect-error launch is 'none' | 'notify' | 'open'
await Ferry.register('photos', { serviceWorker: '/sw.js', launch: 'always' });
// @ts-expect-error ack is 'auto' | 'manual'
await Ferry.register('photos', { serviceWorker: '/sw.js', ack: true });
// @ts-expect-error retry fields are named maxAttempts, baseMs, capMs, maxRetentionMs
await Ferry.register('photos', { serviceWorker: '/sw.js', retry: { attempts: 3 } });
// @ts-expect-error backgroundFetch's bound is minBytes, a number
await Ferry.register('photos', { serviceWorker: '/sw.js', backgroundFetch: { minBytes: '1MB' } });
// @ts-expect-error a classic worker is { url, type: 'classic' }
await Ferry.register('photos', { serviceWorker: { url: '/sw.js', type: 'shared' } });
// @ts-expect-error updateViaCache is 'imports' | 'all' | 'none', as register() takes it
await Ferry.register('photos', { serviceWorker: { url: '/sw.js', updateViaCache: 'never' } });
// @ts-expect-error headerFallback is 'wait' | 'last'
await Ferry.register('photos', { serviceWorker: '/sw.js', headerFallback: 'never' });
// @ts-expect-error attemptTimeoutMs is a number of ms
await Ferry.register('photos', { serviceWorker: '/sw.js', attemptTimeoutMs: '30s' });
// @ts-expect-error options are required
await Ferry.register('photos');

// Bad uploads.
const blob = new Blob(['x']);
// @ts-expect-error the body is a Blob or File
await session.upload('text', { url: '/upload' });
// @ts-expect-error url is required
await session.upload(blob, { method: 'POST' });
// @ts-expect-error GET cannot carry an upload
await session.upload(blob, { url: '/upload', method: 'GET' });
// @ts-expect-error appData is a string (JSON.stringify an object)
await session.upload(blob, { url: '/upload', appData: { photoId: 42 } });
// @ts-expect-error GET in lower case is no upload method either
await session.upload(blob, { url: '/upload', method: 'get' });
// @ts-expect-error credentials take fetch's values only
await session.upload(blob, { url: '/upload', credentials: 'always' });
// @ts-expect-error s3-multipart sets each request's method itself
await session.upload(blob, { url: '/s3/a', protocol: 's3-multipart', method: 'PUT' });
// @ts-expect-error chunkSize belongs to tus
await session.upload(blob, { url: '/upload', protocol: 'http', chunkSize: 5 });
// @ts-expect-error chunkSize without its protocol (the default is plain http)
await session.upload(blob, { url: '/upload', chunkSize: 5242880 });
// @ts-expect-error fields without protocol: 'multipart'
await session.upload(blob, { url: '/upload', fields: { album: '7' } });
// @ts-expect-error metadata belongs to tus, not to s3-multipart
await session.upload(blob, { url: '/upload', protocol: 's3-multipart', metadata: { a: 'b' } });
// @ts-expect-error chunkSize belongs to tus and s3-multipart, not to multipart
await session.upload(blob, { url: '/upload', protocol: 'multipart', chunkSize: 5242880 });
// @ts-expect-error field belongs to multipart
await session.upload(blob, { url: '/upload', protocol: 'tus', field: 'file' });
// @ts-expect-error multipart sends POST
await session.upload(blob, { url: '/upload', protocol: 'multipart', method: 'PUT' });
// @ts-expect-error unknown protocol
await session.upload(blob, { url: '/upload', protocol: 'ftp' });
// @ts-expect-error expiresAt is a time in ms
await session.upload(blob, { url: '/upload', expiresAt: new Date() });
// @ts-expect-error header values are strings
await session.upload(blob, { url: '/upload', headers: { 'X-Album': 7 } });
// @ts-expect-error header pairs are [name, value]
await session.upload(blob, { url: '/upload', headers: [['X-Album']] });

// Results are typed.
// @ts-expect-error upload resolves with the task id, a string
const n: number = await session.upload(blob, { url: '/upload' });
// @ts-expect-error get may resolve null
const t: Task = await session.get('id');
// @ts-expect-error a task's state is one of six names
const s: Task['state'] = 'running';
// @ts-expect-error close returns nothing to await on
await session.close().then(() => {});
// @ts-expect-error not a Ferry error name
const bad: FerryErrorName = 'FerryTimeout';
function kindOf(e: FerryEvent) {
  // @ts-expect-error 'paused' is not a kind
  if (e.kind === 'paused') return 1;
  return 0;
}
console.log(n, t, s, bad, kindOf);
