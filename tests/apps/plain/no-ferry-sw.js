// A service worker that never calls installFerry: the page's Ferry.register must say so.
self.addEventListener('message', () => {});
