// The demo's service worker: Ferry does the uploads; this app takes control of its pages at once.
import { installFerry } from '/ferry/worker.js';

installFerry(self, {});
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
