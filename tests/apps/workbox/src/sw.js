// The app's service worker: Workbox routes its uploads straight to the network. The Ferry plugin on that
// route is the one line that makes a failed upload Ferry's: stored, retried, and reported to the pages of
// the 'album' session.
import { registerRoute } from 'workbox-routing';
import { NetworkOnly } from 'workbox-strategies';
import { installFerry, FerryPlugin } from 'ferry-upload/worker';

installFerry(self, {});
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

registerRoute(
  ({ url }) => url.pathname === '/upload/album',
  new NetworkOnly({ plugins: [new FerryPlugin({ tag: 'album' })] }),
  'POST',
);
