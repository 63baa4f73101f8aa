// Checked with `exactOptionalPropertyTypes` (tsconfig.exact.json): an option given as a possibly
// undefined value compiles (the runtime takes `undefined` for any option), a task's own nullable fields
// go back into a new upload as they are, and a method is taken in any case, as `fetch` takes it.
import { Ferry } from 'ferry-upload';
import type { FerryHeaders, RetryOptions, Task } from 'ferry-upload';

declare const maybeRetry: RetryOptions | undefined;
declare const maybeCount: number | undefined;
declare const maybeProvider: ((task: Task) => FerryHeaders) | undefined;
declare const maybeHeaders: FerryHeaders | undefined;
declare const task: Task;
declare const blob: Blob;

const session = await Ferry.register('photos', {
  serviceWorker: '/sw.js', retry: maybeRetry, concurrency: maybeCount, headerProvider: maybeProvider,
});
// Sent again as it was: the stored task's fields, nulls included.
await session.upload(blob, {
  url: task.request.url, method: task.request.method, headers: maybeHeaders, appData: task.appData,
  expiresAt: task.expiresAt, earliestBegin: task.earliestBegin, retry: { maxAttempts: undefined },
});
await session.upload(blob, { url: '/upload', method: 'Put' });
// Header pairs written inline (TypeScript 5.0 reads them as pairs only with the array listed apart).
await session.upload(blob, { url: '/upload', headers: [['x-album', '7'], ['x-caption', 'sea']] });
await session.upload(blob, { url: '/upload', protocol: 'tus', method: 'Post', chunkSize: maybeCount });
// @ts-expect-error GET is not an upload method, in any case
await session.upload(blob, { url: '/upload', method: 'Get' });
// @ts-expect-error tus creates with POST
await session.upload(blob, { url: '/upload', protocol: 'tus', method: 'put' });
// @ts-expect-error an S3 multipart upload's methods are S3's: none is given
await session.upload(blob, { url: '/upload', protocol: 's3-multipart', method: 'PUT' });
const s3 = { url: '/upload', protocol: 's3-multipart', method: 'PUT' } as const;
// @ts-expect-error the same through a variable
await session.upload(blob, s3);
// A Background Fetch attempt's deadline, when there is one.
export const deadline: number | undefined = task.timeoutAt;
