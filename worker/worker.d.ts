// Service-worker entry of ferry-upload (`import { installFerry } from 'ferry-upload/worker'`).
// Hand-written: these types are the public contract.

import type { FerryHeaders, RetryOptions, Task } from './index.js';

export type {
  FerryCredentials,
  FerryMethod,
  FerryErrorName,
  FerryHeaders,
  FerryError,
  FerryEvent,
  FerryEventKind,
  FerryEventMap,
  FerryResponse,
  FerryTransport,
  RetryOptions,
  Task,
  TaskState,
} from './index.js';

/**
 * The worker's global scope: `self` in a service worker. Declared as the `EventTarget` Ferry adds its
 * listeners to, so that `installFerry(self)` compiles with the `WebWorker` lib as is (where `self` is a
 * `WorkerGlobalScope`) and with `declare const self: ServiceWorkerGlobalScope` alike.
 */
export type FerryWorkerScope = EventTarget;

/** Options of `installFerry`. */
export interface InstallOptions {
  /**
   * Asked in the worker before each attempt of every upload it sends (any tag its pages registered with
   * this worker, or none registered anywhere; no page needed), with the task as
   * `list()` shows it: resolve with a fresh `url` (an object-store URL signed again: a signature that
   * expired while the upload waited is never sent) and `headers` (a token the worker fetched: nothing
   * that expires waits in IndexedDB), either or both, or with nothing to send as stored. Its headers are
   * added to the task's (and a `headerProvider`'s), replacing those of the same name; for tus, `url` is the
   * creation endpoint (used when an upload is created). One that throws, rejects, gives what Ferry cannot
   * send or does not settle within 10 s ends the attempt unsent: a `retrying` event (counted in
   * `retry.maxAttempts`) whose `reason` says why. With it, uploads never go by Background Fetch.
   * For an S3 multipart upload it is asked for each request instead, with the request's `step`: give
   * the URL presigned for that request (without one, the task's URL with S3's query is used). A tus
   * upload that `cancel()` or `clear()` ends at its server asks it once more, with the task alone, for
   * the headers of that `DELETE` (its `url` is not used there).
   */
  beforeSend?: ((task: Task, step?: S3MultipartStep) => BeforeSendResult | void | Promise<BeforeSendResult | void>) | undefined;
}

/** The request of an S3 multipart upload `beforeSend` is asked to sign. */
export type S3MultipartStep =
  /** CreateMultipartUpload: `POST <object>?uploads`. */
  | { step: 'create' }
  /** UploadPart: `PUT <object>?partNumber=<partNumber>&uploadId=<uploadId>`. */
  | { step: 'part'; uploadId: string; partNumber: number }
  /** CompleteMultipartUpload: `POST <object>?uploadId=<uploadId>`. */
  | { step: 'complete'; uploadId: string }
  /** AbortMultipartUpload (the task was cancelled): `DELETE <object>?uploadId=<uploadId>`. */
  | { step: 'abort'; uploadId: string };

/** What `beforeSend` gives an attempt. */
export interface BeforeSendResult {
  /** Where this attempt goes (relative URLs resolve against the worker's location). */
  url?: string | URL | undefined;
  /** Headers this attempt adds. */
  headers?: FerryHeaders | undefined;
}

/**
 * Adds Ferry's event listeners to the worker: call it synchronously at the top of the worker script
 * (a service worker must add its listeners during its first evaluation). Resolves once the wasm is
 * loaded and tasks a previous worker left in flight are taken back.
 */
export function installFerry(scope: FerryWorkerScope, options?: InstallOptions): Promise<void>;

/** Where and how `enqueue` files a request. */
export interface EnqueueOptions {
  /** The session tag whose pages hear how the upload ended (its session options apply, if a page registered it). */
  tag: string;
  /** Overrides the session's retry policy for this task. */
  retry?: RetryOptions | undefined;
  /** The task expires at this time (ms since the epoch). */
  expiresAt?: number | null | undefined;
  /** The task must not start before this time (ms since the epoch). */
  earliestBegin?: number | null | undefined;
  /** Deferrable: sent in the session's batch windows. */
  discretionary?: boolean | undefined;
  /** Your app's own data for the task (a string, at most 8192 bytes as UTF-8), shown as `task.appData`. */
  appData?: string | null | undefined;
}

/**
 * Hands a request to Ferry from the service worker: its body is stored as a Blob with the task in one
 * IndexedDB transaction, then Ferry sends it (method POST, PUT or PATCH; its URL and headers as they are)
 * with retries, and the pages of `tag` hear how it ended. Resolves with the task id once stored; rejects
 * with a `FerryError` (e.g. `FerryInvalidMethod` for a GET). A request with no body is an upload of 0 bytes.
 * Headers the browser set itself (`Sec-*`, `User-Agent`, `Origin`, ...) are left to the browser; an
 * `Idempotency-Key` the request carries becomes the task's key, so the app's own attempt and Ferry's
 * share it, and its `credentials` mode is kept. The request's body is read: pass a clone if it is still needed. Call `installFerry` first.
 */
export function enqueue(request: Request, options: EnqueueOptions): Promise<string>;

/** What Workbox passes to a plugin's `fetchDidFail`. */
export interface FetchDidFailParam {
  request: Request;
  originalRequest?: Request;
  error?: unknown;
  /** The worker event being handled (an `ExtendableEvent`). */
  event?: Event;
}

/**
 * A Workbox plugin: a POST, PUT or PATCH whose fetch failed (no network, connection dropped) is handed to
 * the Ferry session `tag` with `enqueue`; other requests are left alone.
 *
 * ```js
 * registerRoute(/\/api\/upload/, new NetworkOnly({ plugins: [new FerryPlugin({ tag: 'photos' })] }), 'POST');
 * ```
 */
export declare class FerryPlugin {
  constructor(options: EnqueueOptions);
  fetchDidFail(param: FetchDidFailParam): Promise<void>;
}

/** `new FerryPlugin(options)`. */
export function ferryPlugin(options: EnqueueOptions): FerryPlugin;
