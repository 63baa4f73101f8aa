// The demo PWA: everything it shows comes from Ferry's public API and events.
import { Ferry } from '/ferry/index.js';

const $ = (s) => document.querySelector(s);
const rows = new Map();
const status = (text) => { $('#status').textContent = text; };

function row(id) {
  if (!rows.has(id)) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<td class="name"></td><td class="state"></td><td><progress max="1" value="0"></progress></td><td class="attempt"></td><td><button type="button">cancel</button></td>';
    tr.querySelector('button').onclick = () => session.cancel(id).catch((e) => status(`${e.name}: ${e.message}`));
    $('#tasks tbody').append(tr);
    rows.set(id, tr);
  }
  return rows.get(id);
}

function show(task) {
  const tr = row(task.id);
  tr.querySelector('.name').textContent = task.body?.name ?? task.id;
  tr.querySelector('.state').textContent = task.state;
  tr.querySelector('.state').className = `state state-${task.state}`;
  tr.querySelector('.attempt').textContent = task.attempt;
  if (task.state === 'done') tr.querySelector('progress').value = 1;
}

const session = await Ferry.register('demo', { serviceWorker: '/sw.js' });
status('ready');
for (const task of await session.list()) show(task);

for (const kind of ['queued', 'started', 'progress', 'retrying', 'completed', 'failed', 'cancelled', 'expired']) {
  session.addEventListener(kind, async (e) => {
    const ev = e.detail;
    const li = document.createElement('li');
    li.textContent = `#${ev.seq} ${ev.kind} ${ev.taskId.slice(0, 8)}${ev.response ? ` → ${ev.response.status}` : ''}${ev.reason ? ` (${ev.reason})` : ''}`;
    $('#events').append(li);
    if (ev.kind === 'progress' && ev.bytesTotal) row(ev.taskId).querySelector('progress').value = ev.bytesSent / ev.bytesTotal;
    const task = await session.get(ev.taskId);
    if (task) show(task);
  });
}

$('#files').onchange = async (e) => {
  for (const file of e.target.files) {
    try {
      const id = await session.upload(file, { url: '/upload', method: 'POST' });
      show(await session.get(id));
    } catch (err) {
      status(`${err.name}: ${err.message}`);
    }
  }
  e.target.value = '';
};
$('#pause').onclick = () => session.pause().then(() => status('paused'));
$('#resume').onclick = () => session.resume().then(() => status('sending'));
$('#clear').onclick = () => session.clear().then((n) => { rows.clear(); $('#tasks tbody').textContent = ''; status(`cleared ${n}`); });
