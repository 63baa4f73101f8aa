import { Ferry } from 'ferry-upload';

const session = await Ferry.register('uploads', { serviceWorker: '/sw.js' });
session.addEventListener('progress', (e) => console.log('progress', e.detail.taskId, e.detail.bytesSent, e.detail.bytesTotal));
session.addEventListener('completed', (e) => console.log('completed', e.detail.taskId, e.detail.response.status));
session.addEventListener('failed', (e) => console.error('failed', e.detail.taskId, e.detail.reason));

const input = document.querySelector('input[type=file]');
input.addEventListener('change', async () => {
  for (const file of input.files) console.log('queued', await session.upload(file, { url: '/upload' }));
});
input.disabled = false;
