// Service-worker entry of ferry-upload.
/** Adds Ferry's event listeners to the worker; call it synchronously at the top of the worker script. */
export function installFerry(scope: ServiceWorkerGlobalScope, options?: Record<string, never>): Promise<void>;
