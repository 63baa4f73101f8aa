// ferry-upload: what Ferry reports back, as `list()`, `get()`, events and errors show it (the page entry
// `ferry-upload` exports all of these). Hand-written: these types are the public contract.

import type { FerryCredentials, FerryMethod } from './index.js';

// ---------------------------------------------------------------------------------------------------
// Tasks

/** Where a task is in its life; the last four are final. */
export type TaskState = 'queued' | 'inFlight' | 'done' | 'failed' | 'cancelled' | 'expired';

/** The browser mechanism that carries an attempt. */
export type FerryTransport = 'backgroundFetch' | 'backgroundSync' | 'fallback';

/** How a task's body goes over the wire, as stored. */
export type TaskProtocol =
  | { kind: 'http' }
  | { kind: 'multipart'; field: string; filename: string; fields: [name: string, value: string][] }
  | { kind: 'tus'; chunkSize: number; metadata: [key: string, value: string][]; uploadUrl: string | null }
  /** `etags`: the parts the bucket confirmed, in order (part 1 first). */
  | { kind: 's3-multipart'; chunkSize: number; uploadId: string | null; etags: string[] };

/** The effective retry policy of a task (session policy with the upload's overrides). */
export interface TaskRetry {
  maxAttempts: number;
  baseMs: number;
  capMs: number;
  maxRetentionMs: number;
}

/** One durable upload, as `list()`, `get()` and a `headerProvider` see it. Times are ms since the epoch. */
export interface Task {
  id: string;
  tag: string;
  /** Enqueue order within the tag: the `seq` of the task's `queued` event. */
  seq: number;
  request: {
    /** The resolved absolute URL. */
    url: string;
    /** Upper case, whatever the case given. */
    method: FerryMethod;
    /** Header pairs, names lower-cased; empty once the task has finished (they may hold credentials). */
    headers: [name: string, value: string][];
    protocol: TaskProtocol;
    /** fetch's `credentials` of every request (`'same-origin'` unless the upload said otherwise). */
    credentials: FerryCredentials;
  };
  /** Facts about the stored Blob. */
  body: { size: number; mime: string; name: string | null };
  /** Sent as `Idempotency-Key` on every attempt. */
  idempotencyKey: string;
  state: TaskState;
  /** Attempts started so far. */
  attempt: number;
  /** When it may next be sent (set while queued). */
  nextAttemptAt: number | null;
  /**
   * When the running attempt's lease runs out (set while in flight). A Background Fetch is the browser's
   * for a day: its attempt's own deadline is `timeoutAt`.
   */
  leaseUntil: number | null;
  /** When a Background Fetch attempt in flight times out (present only then; see `attemptTimeoutMs`). */
  timeoutAt?: number;
  createdAt: number;
  /** As given; the task expires at the earlier of this and `createdAt + retry.maxRetentionMs`. */
  expiresAt: number | null;
  /** Not sent before this time: the one given, or for a discretionary task the opening of its batch window if later. */
  earliestBegin: number | null;
  /** What went wrong in the latest failed attempt (with, in brief, what an error answer said). */
  lastError: string | null;
  /** HTTP status of the latest attempt that got a response. */
  lastStatus: number | null;
  /** How the latest attempt was carried. */
  transport: FerryTransport | null;
  retry: TaskRetry;
  /** Bytes the server confirmed (tus). */
  bytesConfirmed: number;
  discretionary: boolean;
  /** Numbers the task's leases: each attempt's lease takes the next one. */
  leaseNo: number;
  /** The worker instance holding the running attempt's lease (`null` when none, or Background Fetch carries it). */
  holder: string | null;
  /** The `appData` given with the upload (`null`: none); kept as long as the task. */
  appData: string | null;
  /** Whether the running attempt's `started` was told (a Background Fetch's waits until the browser began it). */
  announced: boolean;
}

// ---------------------------------------------------------------------------------------------------
// Events

/** The part of the server's answer an event carries. */
export interface FerryResponse {
  status: number;
  /** Response headers by lower-case name. */
  headers: Record<string, string>;
  /** The start of the body (at most 4096 bytes). */
  body: string;
}

/** Fields every event has. */
export interface FerryEventBase {
  taskId: string;
  tag: string;
  /** Per-tag sequence number: events arrive in `seq` order, at least once. */
  seq: number;
}

/** The task and its Blob are stored. */
export interface FerryQueuedEvent extends FerryEventBase {
  kind: 'queued';
  bytesTotal: number;
}
/** An attempt began. */
export interface FerryStartedEvent extends FerryEventBase {
  kind: 'started';
  attempt: number;
  transport: FerryTransport;
  bytesTotal: number;
}
/** Bytes were sent (throttled; rising, except when a tus server forgot the upload and it starts over; a successful upload reports the total just before `completed`). */
export interface FerryProgressEvent extends FerryEventBase {
  kind: 'progress';
  attempt: number;
  bytesSent: number;
  bytesTotal: number;
}
/** An attempt failed and another one is due after `delayMs` (at most the time left to the task's deadline: a retry that would come later is not made, and the task is `expired` then). */
export interface FerryRetryingEvent extends FerryEventBase {
  kind: 'retrying';
  attempt: number;
  delayMs: number;
  /** Why the attempt failed; an error answer's gist is quoted: `... (the server said: SlowDown: ...)`. */
  reason: string;
}
/** The server accepted the upload. */
export interface FerryCompletedEvent extends FerryEventBase {
  kind: 'completed';
  attempt: number;
  /** The answer that completed it (tus: the last `PATCH`'s, or the `HEAD`'s that found the file whole when that one was lost; s3-multipart: the CompleteMultipartUpload answer). */
  response: FerryResponse;
}
/** Ferry gave up: a final answer, or the attempts ran out. */
export interface FerryFailedEvent extends FerryEventBase {
  kind: 'failed';
  attempt: number;
  /** Why; an error answer's gist is quoted: `403 Forbidden ... (the server said: SignatureDoesNotMatch: ...)`. */
  reason: string;
  /** The server's answer, when there was one. */
  response?: FerryResponse;
}
/** The task was cancelled. */
export interface FerryCancelledEvent extends FerryEventBase {
  kind: 'cancelled';
}
/** The task's deadline passed first. */
export interface FerryExpiredEvent extends FerryEventBase {
  kind: 'expired';
  reason: string;
}

/** Every event a session delivers, told apart by `kind`. */
export type FerryEvent =
  | FerryQueuedEvent
  | FerryStartedEvent
  | FerryProgressEvent
  | FerryRetryingEvent
  | FerryCompletedEvent
  | FerryFailedEvent
  | FerryCancelledEvent
  | FerryExpiredEvent;

/** The event kinds. */
export type FerryEventKind = FerryEvent['kind'];

/** Event name to `e.detail` type, for `session.addEventListener`. */
export type FerryEventMap = { [K in FerryEventKind]: Extract<FerryEvent, { kind: K }> };

// ---------------------------------------------------------------------------------------------------
// Errors

/** The `name` of every `Error` Ferry throws or rejects with. */
export type FerryErrorName =
  | 'FerryInvalidTag'
  | 'FerryInvalidUrl'
  | 'FerryInvalidMethod'
  | 'FerryInvalidHeader'
  | 'FerryInvalidBody'
  /** Only an `s3-multipart` body no part size carries within S3's 10,000 parts (over 48 TiB): Ferry sets no size limit of its own. */
  | 'FerryBodyTooLarge'
  /** The origin's storage cannot hold the Blob (the browser's estimate, or its refusal of the write); nothing was stored. */
  | 'FerryQuotaExceeded'
  | 'FerryInvalidOptions'
  | 'FerryInvalidProtocol'
  | 'FerryDuplicateTask'
  | 'FerryUnknownTask'
  | 'FerryClosed'
  | 'FerryIllegalTransition'
  | 'FerryStorage'
  /** The service worker could not fetch or compile its wasm; the next call or event tries again. */
  | 'FerryWasmLoad'
  /**
   * No service worker answers: not in a browser page (e.g. server-side rendering), the worker did not
   * install, or it does not call `installFerry(self)`. (A worker URL the browser refuses to register,
   * such as a 404, is `FerryInvalidOptions`.)
   */
  | 'FerryNoWorker'
  /**
   * Seen only in the worker's console, never by a page: a `sync` event rejected because work is left
   * for later (a retry not due yet, no network, an upload still running), so the browser fires it
   * again. Not a failure.
   */
  | 'FerrySyncAgain';

/** An `Error` from Ferry; its `name` is stable, its message says what to do. */
export interface FerryError extends Error {
  name: FerryErrorName;
  /** `uploadAll`: which item (0-based) was refused. */
  index?: number;
}

