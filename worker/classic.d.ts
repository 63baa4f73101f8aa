// Classic service-worker build of ferry-upload (`importScripts('/ferry/ferry-sw.js')`): the one global it
// defines, `ferry`. In a TypeScript worker, reference these types at the top of the script:
//   /// <reference types="ferry-upload/classic" />
// Hand-written: these types are the public contract.

import type { enqueue, ferryPlugin, FerryPlugin, FerryWorkerScope, InstallOptions } from './worker.js';

/** Options of the classic build's `installFerry`: the module entry's, and where the wasm is served. */
export interface ClassicInstallOptions extends InstallOptions {
  /** The URL of `ferry_bg.wasm`, relative to `ferry-sw.js` (default: next to it). */
  wasmUrl?: string | URL | undefined;
}

/** What `ferry-sw.js` puts on the worker's global scope (frozen): the module entry's API. */
export interface FerryClassic {
  installFerry(scope: FerryWorkerScope, options?: ClassicInstallOptions): Promise<void>;
  enqueue: typeof enqueue;
  FerryPlugin: typeof FerryPlugin;
  ferryPlugin: typeof ferryPlugin;
}

declare global {
  /** Ferry's classic build, defined by `importScripts('…/ferry-sw.js')`. */
  const ferry: Readonly<FerryClassic>;
}
