/// <reference types="ferry-upload/classic" />
// A classic service worker in TypeScript: `ferry-sw.js` defines the global `ferry`, typed by
// `ferry-upload/classic` (a script: no import or export).
importScripts('/ferry/ferry-sw.js');

ferry.installFerry(self, {
  wasmUrl: '/static/ferry_bg.wasm',
  beforeSend: (task) => ({ headers: { 'X-Task': task.id } }),
});
self.addEventListener('fetch', (event) => {
  const e = event as FetchEvent;
  if (e.request.method === 'POST') e.waitUntil(ferry.enqueue(e.request.clone(), { tag: 'photos' }));
});
const classicPlugin: ReturnType<typeof ferry.ferryPlugin> = new ferry.FerryPlugin({ tag: 'photos' });
classicPlugin.fetchDidFail;
// @ts-expect-error wasmUrl is a string or a URL
ferry.installFerry(self, { wasmUrl: 42 });
// @ts-expect-error the global is frozen
ferry.enqueue = async () => 'x';
// @ts-expect-error enqueue needs a tag
ferry.enqueue(new Request('/upload', { method: 'POST', body: 'x' }), {});
