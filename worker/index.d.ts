// Page entry of ferry-upload: importing it loads nothing; the wasm loads on the first `Ferry.register`.
export { Ferry, Session } from './ferry.js';

/** An event of a session: `e.detail` of every event a Session dispatches. */
export interface FerryEvent {
  kind: 'queued' | 'started' | 'progress' | 'retrying' | 'completed' | 'failed' | 'cancelled' | 'expired';
  taskId: string;
  tag: string;
  seq: number;
  attempt?: number;
  bytesSent?: number;
  bytesTotal?: number;
  delayMs?: number;
  reason?: string;
  transport?: 'backgroundFetch' | 'backgroundSync' | 'fallback';
  response?: { status: number; headers: Record<string, string>; body: string };
}
