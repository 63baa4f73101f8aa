// The demo PWA: everything it shows comes from Ferry's public API and events.
const $ = (s) => document.querySelector(s);
const status = (text) => { $('#status').textContent = text; };
const TERMINAL = new Set(['done', 'failed', 'cancelled', 'expired']);
const KINDS = ['queued', 'started', 'progress', 'retrying', 'completed', 'failed', 'cancelled', 'expired'];
/** tus sends the file in chunks of this size; each confirmed chunk moves the progress bar. */
const CHUNK_SIZE = 256 * 1024;

// The banner works even when Ferry cannot load: it only asks the browser.
function showConnectivity() {
  $('#offline').hidden = navigator.onLine;
}
addEventListener('online', showConnectivity);
addEventListener('offline', showConnectivity);
showConnectivity();

const rows = new Map();
let session;

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function row(id) {
  if (!rows.has(id)) {
    const tr = document.createElement('tr');
    tr.dataset.task = id;
    tr.innerHTML = '<td class="name"></td><td class="size"></td><td class="state"></td>'
      + '<td class="bar"><progress max="1" value="0"></progress> <span class="pct">0 %</span></td>'
      + '<td class="attempt"></td><td><button type="button" class="cancel">cancel</button></td>';
    tr.querySelector('button').onclick = () => session.cancel(id).catch((e) => status(`${e.name}: ${e.message}`));
    $('#tasks tbody').append(tr);
    rows.set(id, tr);
  }
  return rows.get(id);
}

function setProgress(tr, fraction) {
  tr.querySelector('progress').value = fraction;
  tr.querySelector('.pct').textContent = `${Math.floor(fraction * 100)} %`;
}

function show(task) {
  const tr = row(task.id);
  tr.querySelector('.name').textContent = task.body?.name ?? task.id;
  tr.querySelector('.size').textContent = size(task.body?.size ?? 0);
  tr.querySelector('.state').textContent = task.state;
  tr.querySelector('.state').className = `state state-${task.state}`;
  tr.querySelector('.attempt').textContent = task.attempt;
  tr.querySelector('.cancel').disabled = TERMINAL.has(task.state);
  if (task.state === 'done') setProgress(tr, 1);
  else if (task.body?.size) {
    // What the server confirmed (tus offset); never move the bar back under a newer progress event.
    const confirmed = task.bytesConfirmed / task.body.size;
    if (confirmed > tr.querySelector('progress').value) setProgress(tr, confirmed);
  }
}

function log(ev, replayed) {
  const li = document.createElement('li');
  Object.assign(li.dataset, { seq: ev.seq, kind: ev.kind, task: ev.taskId });
  const details = [
    ev.transport && `via ${ev.transport}`,
    ev.kind === 'progress' && ev.bytesTotal && `${size(ev.bytesSent)} / ${size(ev.bytesTotal)}`,
    ev.response && `→ ${ev.response.status}`,
    ev.delayMs !== undefined && `in ${Math.round(ev.delayMs / 1000)} s`,
    ev.reason && `(${ev.reason})`,
  ].filter(Boolean).join(' ');
  li.innerHTML = '<span class="seq"></span> <span class="kind"></span> <span class="task"></span> <span class="details"></span>';
  li.querySelector('.seq').textContent = `#${ev.seq}`;
  li.querySelector('.kind').textContent = ev.kind;
  li.querySelector('.kind').className = `kind kind-${ev.kind}`;
  li.querySelector('.task').textContent = ev.taskId.slice(0, 8);
  li.querySelector('.details').textContent = details;
  if (replayed) {
    li.dataset.replayed = '';
    li.insertAdjacentHTML('beforeend', ' <span class="replayed" title="it happened while no page of this demo was open; Ferry kept it for this page">replayed</span>');
  }
  $('#events').prepend(li);
}

try {
  const { Ferry } = await import('/ferry/index.js');
  session = await Ferry.register('demo', { serviceWorker: '/sw.js' });
} catch (e) {
  status(`${e.name}: ${e.message}`);
  throw e;
}

// Tasks already finished when this page opened: their events reaching it now are replayed from the outbox.
const tasks = await session.list();
const finishedBeforeOpen = new Set(tasks.filter((t) => TERMINAL.has(t.state)).map((t) => t.id));
for (const task of tasks) show(task);
status('ready');

for (const kind of KINDS) {
  session.addEventListener(kind, async (e) => {
    const ev = e.detail;
    log(ev, finishedBeforeOpen.has(ev.taskId));
    if (ev.kind === 'progress' && ev.bytesTotal) setProgress(row(ev.taskId), ev.bytesSent / ev.bytesTotal);
    const task = await session.get(ev.taskId);
    if (task) show(task);
  });
}

function request(file) {
  if ($('#protocol').value === 'http') return { url: '/upload', method: 'POST' };
  return { url: '/tus', protocol: 'tus', chunkSize: CHUNK_SIZE, metadata: { filename: file.name || 'blob' } };
}

$('#files').onchange = async (e) => {
  for (const file of e.target.files) {
    try {
      const id = await session.upload(file, request(file));
      show(await session.get(id));
    } catch (err) {
      status(`${err.name}: ${err.message}`);
    }
  }
  e.target.value = '';
};
$('#pause').onclick = () => session.pause().then(() => status('paused'));
$('#resume').onclick = () => session.resume().then(() => status('sending'));
$('#clear').onclick = () => session.clear().then((n) => {
  rows.clear();
  finishedBeforeOpen.clear();
  $('#tasks tbody').textContent = '';
  status(`cleared ${n}`);
});
