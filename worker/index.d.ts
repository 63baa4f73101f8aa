// Page entry of ferry-upload: importing it loads nothing, and a page never loads the wasm (the worker does).
// Hand-written: these types are the public contract (the generated wasm-bindgen glue is typed `any` and
// is not part of it). What Ferry reports back (tasks, events, errors) is in reports.d.ts, exported here too.

import type { FerryEventKind, FerryEventMap, Task } from './reports.js';
export * from './reports.js';

// ---------------------------------------------------------------------------------------------------
// Session options

/** Retry policy: exponential backoff with full jitter. Every field is optional; missing ones keep the default. */
export interface RetryOptions {
  /** Attempts that reach the network before the task fails (1..10000, default 8). */
  maxAttempts?: number | undefined;
  /** Backoff ceiling of the first retry in ms; doubles per attempt (default 1000). */
  baseMs?: number | undefined;
  /** Largest backoff ceiling in ms, at least `baseMs` (default 300000). */
  capMs?: number | undefined;
  /** A task expires this long after it was queued, whatever else happens (default 7 days, at most 365 days). */
  maxRetentionMs?: number | undefined;
}

/** The service worker that carries a session's uploads. */
export type ServiceWorkerOption =
  /** Its script URL: Ferry registers it as a module service worker. */
  | string
  | URL
  /**
   * Its script URL and how to register it: `type` `'classic'` for a worker that loads Ferry with
   * `importScripts()`; `scope` and `updateViaCache` as `navigator.serviceWorker.register` takes them.
   */
  | {
      url: string | URL;
      type?: 'module' | 'classic' | undefined;
      scope?: string | URL | undefined;
      updateViaCache?: ServiceWorkerUpdateViaCache | undefined;
    }
  /** A registration the app made itself. */
  | ServiceWorkerRegistration;

/** Headers as `fetch` takes them: a plain object of strings, a `Headers`, a `Map` or other iterable of `[name, value]` pairs. */
export type FerryHeaders =
  | Record<string, string>
  | Headers
  // (Listed apart from `Iterable` so that TypeScript 5.0 reads an inline `[['a', 'b']]` as pairs.)
  | ReadonlyArray<readonly [name: string, value: string]>
  | Iterable<readonly [name: string, value: string]>;

/** Options of `Ferry.register(tag, options)`; they live on the session (the tag) and persist with it. */
export interface SessionOptions {
  /** The worker that runs `installFerry` (required). */
  serviceWorker: ServiceWorkerOption;
  /** Default retry policy of the session's uploads (`upload` may override it per task). */
  retry?: RetryOptions | undefined;
  /** Uploads of this tag running at once, FIFO per tag (1..16, default 2). */
  concurrency?: number | undefined;
  /**
   * When a task ends and no page of the tag is open: `'none'` (default; the outbox waits), `'notify'`
   * (show a notification) or `'open'` (a click on it focuses or opens the page that registered the session).
   */
  launch?: 'none' | 'notify' | 'open' | undefined;
  /** `'auto'` (default): events are acknowledged once a listener of their kind ran; `'manual'`: call `session.ack(seq)`. */
  ack?: 'auto' | 'manual' | undefined;
  /**
   * Let the browser carry uploads with Background Fetch where it is granted (default true). `{ minBytes }`:
   * only bodies of at least that many bytes; smaller ones go by the worker's fetch at once (a Background
   * Fetch takes seconds to begin, and shows the browser's download UI).
   */
  backgroundFetch?: boolean | { minBytes?: number | undefined } | undefined;
  /**
   * Asked (through an open page of the tag) for fresh headers each time a task is sent, instead of
   * storing a token with the task (with it, uploads never go by Background Fetch). Receives the task;
   * returns headers or a Promise of them. If it
   * throws, rejects, returns headers Ferry cannot send or does not settle within 4 s, the attempt ends
   * unsent: a `retrying` event (counted in `retry.maxAttempts`) whose `reason` says why.
   */
  headerProvider?: ((task: Task) => FerryHeaders | Promise<FerryHeaders>) | undefined;
  /**
   * With a `headerProvider` and no page open to ask: `'wait'` (default; the task waits for a page) or
   * `'last'` (send with the last headers given, which are then kept in IndexedDB).
   */
  headerFallback?: 'wait' | 'last' | undefined;
  /** Discretionary uploads start at the next multiple of this many ms (0..86400000, default 60000; 0 = at once). */
  batchWindowMs?: number | undefined;
  /**
   * A request of an attempt (each request of a tus or S3 multipart attempt) that has not ended after this many ms, sending
   * and answer together, is aborted and counts as a retryable timeout (default 30 s + 1 s per 64 KiB; a
   * Background Fetch gets 15 s more for the browser to begin it).
   */
  attemptTimeoutMs?: number | undefined;
}

// ---------------------------------------------------------------------------------------------------
// Upload requests

/** What every upload request has, whatever its protocol. */
export interface UploadRequestBase {
  /** A string or a `URL`, resolved like `fetch` resolves it (against the document's base URL); only http(s) after resolution. */
  url: string | URL;
  /** Extra request headers. Forbidden headers, `Content-Length` and `Idempotency-Key` (Ferry sets it) are refused. */
  headers?: FerryHeaders | undefined;
  /** The task must not start before this time (ms since the epoch). */
  earliestBegin?: number | null | undefined;
  /** After this time (ms since the epoch) the task is `expired` instead of sent; an attempt under way then goes on to its end. */
  expiresAt?: number | null | undefined;
  /** Overrides the session's retry policy for this task. */
  retry?: RetryOptions | undefined;
  /** Deferrable: sent in the session's batch windows, held back while the user asks to save data. */
  discretionary?: boolean | undefined;
  /**
   * Your app's own data for this task (at most 8192 bytes as UTF-8), never sent: stored in the same
   * transaction as the task, shown as `task.appData` by `list()`, `get()`, `headerProvider` and `beforeSend`.
   * A string: store an object as `JSON.stringify(data)`.
   */
  appData?: string | null | undefined;
  /**
   * fetch's `credentials` for every request of the upload: `'same-origin'` (default: the browser's cookies
   * go only to this origin), `'include'` (also to another origin, whose CORS answers must then name this
   * origin and allow credentials), `'omit'` (never). Any other value is `FerryInvalidOptions`.
   */
  credentials?: FerryCredentials | undefined;
}

/** The methods an upload may use. */
export type FerryMethod = 'POST' | 'PUT' | 'PATCH';

/** A method name in any case (`'put'`, `'Put'`), as `fetch` takes it. */
export type AnyCase<S extends string> = S extends `${infer C}${infer R}` ? `${Uppercase<C> | Lowercase<C>}${AnyCase<R>}` : S;

/** fetch's `credentials` mode. */
export type FerryCredentials = 'omit' | 'same-origin' | 'include';

/** The Blob is the request body, as is. */
export interface HttpUploadRequest extends UploadRequestBase {
  protocol?: 'http' | undefined;
  /** Default `'POST'`; in any case, as `fetch` takes it (`'put'` is `'PUT'`). */
  method?: AnyCase<FerryMethod> | undefined;
  /** Settings of another protocol are refused (`FerryInvalidProtocol`): name the protocol. */
  field?: undefined; filename?: undefined; fields?: undefined; chunkSize?: undefined; metadata?: undefined;
}

/** The Blob is the file part of a `multipart/form-data` body (an HTML form upload). */
export interface MultipartUploadRequest extends UploadRequestBase {
  protocol: 'multipart';
  method?: AnyCase<'POST'> | undefined;
  /** Form field of the file part (default `'file'`). */
  field?: string | undefined;
  /** File name of the part (default the File's name, else `'blob'`). */
  filename?: string | undefined;
  /** Text fields sent before the file. */
  fields?: Record<string, string> | undefined;
  chunkSize?: undefined; metadata?: undefined;
}

/** tus 1.0 resumable upload: `url` is the creation endpoint; a killed upload resumes at the server's offset. */
export interface TusUploadRequest extends UploadRequestBase {
  protocol: 'tus';
  method?: AnyCase<'POST'> | undefined;
  /** Bytes per PATCH (default 5 MiB). */
  chunkSize?: number | undefined;
  /** `Upload-Metadata` pairs. */
  metadata?: Record<string, string> | undefined;
  field?: undefined; filename?: undefined; fields?: undefined;
}

/**
 * S3 multipart upload: `url` names the object (your own URL, or the bucket's); the worker's `beforeSend`
 * signs each request (`create`, every `part`, `complete`, `abort`). A cut-off upload resumes at the first
 * part the bucket has not confirmed. Needs `installFerry(self, { beforeSend })`.
 */
export interface S3MultipartUploadRequest extends UploadRequestBase {
  protocol: 's3-multipart';
  /** Each request's method is S3's (`POST`, `PUT`, `DELETE`): none is given (`FerryInvalidProtocol`). */
  method?: undefined;
  /** Bytes per part, 5 MiB to 5 GiB, at most 10,000 parts (default 8 MiB, larger for a body over 78 GiB). */
  chunkSize?: number | undefined;
  field?: undefined; filename?: undefined; fields?: undefined; metadata?: undefined;
}

/** One item of `session.uploadAll(items)`. */
export interface UploadItem {
  blob: Blob;
  request: UploadRequest;
}

/** The second argument of `session.upload(blob, request)`. */
export type UploadRequest = HttpUploadRequest | MultipartUploadRequest | TusUploadRequest | S3MultipartUploadRequest;

// ---------------------------------------------------------------------------------------------------
// API

/** A listener of one event kind: a function or an object with `handleEvent`. */
export type FerryListener<K extends FerryEventKind> =
  | ((e: CustomEvent<FerryEventMap[K]>) => void)
  | { handleEvent(e: CustomEvent<FerryEventMap[K]>): void };

/**
 * One tag's uploads and events. It dispatches events like an EventTarget, one type per
 * `FerryEvent` kind, with the event as `e.detail`: first every event of the tag not yet acknowledged,
 * in `seq` order, then live ones.
 */
export interface Session {
  /** The session's tag. */
  readonly tag: string;
  /** Listens to one kind of event; the first listener starts the replay of missed events. */
  addEventListener<K extends FerryEventKind>(
    type: K,
    listener: FerryListener<K> | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends FerryEventKind>(
    type: K,
    listener: FerryListener<K> | null,
    options?: boolean | EventListenerOptions,
  ): void;
  /** The session is an `EventTarget`: its events' `target` is the session. */
  dispatchEvent(event: Event): boolean;
  /**
   * Stores `blob` with `request`; resolves with the task id once both are committed to IndexedDB.
   * Rejects with `FerryInvalidBody` for anything but a Blob or File, and with the matching
   * `FerryInvalid*` error for a bad request; a refused call writes nothing.
   */
  upload(blob: Blob, request: UploadRequest): Promise<string>;
  /**
   * Stores many uploads in ONE IndexedDB transaction; resolves with their task ids, in order, once all
   * are committed (a folder of photos costs one commit, not hundreds). Every item is checked first: a bad
   * one rejects the call with its error, whose `index` names the item, and nothing is stored.
   */
  uploadAll(items: ReadonlyArray<UploadItem>): Promise<string[]>;
  /** The tag's tasks in enqueue order. */
  list(): Promise<Task[]>;
  /** One task of this tag, or `null`. */
  get(id: string): Promise<Task | null>;
  /** `true` if the task was still pending, `false` if it had already ended; `FerryUnknownTask` if there is none. */
  cancel(id: string): Promise<boolean>;
  /** Removes the tag's tasks, payloads, events and kept headers (a logout); resolves with the number of tasks removed. */
  clear(): Promise<number>;
  /** Holds back every attempt not yet started (persisted; in-flight ones finish). */
  pause(): Promise<void>;
  /** Sends again at once. */
  resume(): Promise<void>;
  /** With `ack: 'manual'`: events up to `seq` are handled and will not be replayed. */
  ack(seq: number): Promise<void>;
  /** Stops delivering events to this page (uploads go on); every later call that returns a promise rejects with `FerryClosed`. */
  close(): void;
}

/** The entry point. */
export interface FerryStatic {
  /**
   * Opens the session of `tag` (1..64 of `A-Z a-z 0-9 . _ -`): the same tag later is the same session,
   * and the events it missed are replayed. The engine runs in the service worker, which this asks:
   * rejects with `FerryWasmLoad` when the worker cannot load its wasm (the next call tries again), and
   * with `FerryNoWorker` outside a browser page or when no worker answers.
   */
  register(tag: string, options: SessionOptions): Promise<Session>;
}

export declare const Ferry: FerryStatic;
