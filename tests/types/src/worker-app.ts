// A typed module service worker: Ferry installed, a Workbox route handing failed uploads to Ferry with
// the plugin, and `enqueue` called directly. Checked with tsc --strict against the WebWorker lib.
import { installFerry, enqueue, FerryPlugin, ferryPlugin } from 'ferry-upload/worker';
import type { BeforeSendResult, EnqueueOptions, FerryEvent, S3MultipartStep, Task } from 'ferry-upload/worker';
import { registerRoute } from 'workbox-routing';
import { NetworkOnly } from 'workbox-strategies';

declare const self: ServiceWorkerGlobalScope;

const ready: Promise<void> = installFerry(self, {});
installFerry(self);
// A fresh presigned URL and token for each attempt, from the app's backend; nothing for other uploads.
installFerry(self, {
  async beforeSend(task: Task): Promise<BeforeSendResult | void> {
    if (!task.request.url.includes('X-Amz-Signature')) return;
    const { url, token } = await (await fetch(`/api/presign?for=${encodeURIComponent(task.request.url)}`)).json();
    return { url: new URL(url), headers: new Headers({ Authorization: `Bearer ${token}` }) };
  },
});
installFerry(self, { beforeSend: () => undefined });
// Each request of an S3 multipart upload signed for its step.
installFerry(self, {
  async beforeSend(task: Task, step?: S3MultipartStep): Promise<BeforeSendResult | void> {
    if (!step) return;
    const part = step.step === 'part' ? `&part=${step.partNumber}&upload=${step.uploadId}` : '';
    const { url } = await (await fetch(`/api/sign?step=${step.step}&task=${task.id}${part}`)).json();
    return { url };
  },
});

registerRoute(({ url }) => url.pathname === '/api/upload', new NetworkOnly({ plugins: [new FerryPlugin({ tag: 'photos' })] }), 'POST');
registerRoute(/\/api\/avatar/, new NetworkOnly({ plugins: [ferryPlugin({ tag: 'avatars', retry: { maxAttempts: 3 } })] }), 'PUT');

const options: EnqueueOptions = { tag: 'photos', expiresAt: Date.now() + 3_600_000, earliestBegin: Date.now(), discretionary: false, appData: 'from-the-worker' };
self.addEventListener('fetch', (event: FetchEvent) => {
  if (event.request.method !== 'POST' || !event.request.url.endsWith('/later')) return;
  const id: Promise<string> = enqueue(event.request.clone(), options);
  event.respondWith(id.then((taskId) => new Response(taskId, { status: 202 })));
});

function log(ev: FerryEvent, task?: Task) {
  if (ev.kind === 'completed') console.log(ev.response.status, task?.id);
}
console.log(ready, log);
