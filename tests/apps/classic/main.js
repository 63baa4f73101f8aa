import { Ferry } from '/ferry/index.js';

const session = await Ferry.register('uploads', { serviceWorker: { url: '/sw.js', type: 'classic' } });
session.addEventListener('progress', (e) => console.log('progress', e.detail.taskId, e.detail.bytesSent, e.detail.bytesTotal));
session.addEventListener('completed', (e) => console.log('completed', e.detail.taskId, e.detail.response.status));
session.addEventListener('failed', (e) => console.error('failed', e.detail.taskId, e.detail.reason));

const input = document.querySelector('input[type=file]');
input.addEventListener('change', async () => {
  for (const file of input.files) console.log('queued', await session.upload(file, { url: '/upload' }));
});
input.disabled = false;
