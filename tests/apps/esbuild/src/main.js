import { Ferry } from 'ferry-upload';

const session = await Ferry.register('uploads', { serviceWorker: '/sw.js' });
session.addEventListener('progress', (e) => console.log('progress', e.detail.taskId, e.detail.bytesSent, e.detail.bytesTotal));
session.addEventListener('completed', (e) => console.log('completed', e.detail.taskId, e.detail.response.status));
session.addEventListener('failed', (e) => console.error('failed', e.detail.taskId, e.detail.reason));

const input = document.querySelector('input[type=file]');
input.addEventListener('change', async () => {
  const ids = await session.uploadAll(Array.from(input.files, (file) => ({ blob: file, request: { url: '/upload' } })));
  for (const id of ids) console.log('queued', id);
});
input.disabled = false;
