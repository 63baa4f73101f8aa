// The app's page: it uploads with plain fetch, as it always did; it registers the Ferry session 'album'
// only to hear how uploads Ferry took over ended.
import { Ferry } from 'ferry-upload';

const KINDS = ['queued', 'started', 'progress', 'retrying', 'completed', 'failed', 'cancelled', 'expired'];

async function start() {
  const session = await Ferry.register('album', {
    serviceWorker: '/sw.js',
    retry: { maxAttempts: 50, baseMs: 50, capMs: 200 },
  });
  window.ferryEvents = [];
  for (const kind of KINDS) session.addEventListener(kind, (e) => window.ferryEvents.push(e.detail));
  window.ferrySession = session;
  await navigator.serviceWorker.ready;
  // The upload route only goes through the worker once it controls this page (clients.claim()).
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
  }
}

/**
 * The app's existing upload: a POST of the bytes (with the app's own Idempotency-Key, if given). Resolves
 * with the status, or the error fetch threw.
 */
window.appUpload = async (bytes, key) => {
  const headers = { 'content-type': 'application/octet-stream', 'x-album': '7' };
  if (key) headers['idempotency-key'] = key;
  try {
    const res = await fetch('/upload/album', { method: 'POST', body: new Blob([bytes]), headers });
    return { status: res.status };
  } catch (e) {
    return { error: `${e.name}: ${e.message}` };
  }
};

window.appReady = start();
