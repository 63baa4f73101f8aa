// Long-upload probe (Chromium, about 7 minutes, not run by the test layers): one plain upload whose body
// the server reads slowly for longer than Chromium lets one service-worker event live (5 minutes), sent
// without Background Fetch, with a page of the origin open and idle the whole time. The upload must go
// out once and complete on attempt 1: the worker must not be stopped under it (core::scheduler::lifetime
// says how long an event holds the work and when the page is asked to wake the worker).
// Usage: node long-upload.mjs [--mib 32] [--kib-per-sec 84]. Prints the requests the server saw and the
// task's events; exits 1 if the body was sent more than once or the task did not complete on attempt 1.
import { startServer, profileDir, launchChromium, openSession, uploadRandom, settled } from './harness.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
const size = opt('--mib', 32) * 1024 * 1024;
const rate = opt('--kib-per-sec', 84) * 1024;
const readSeconds = size / rate;
const path = '/upload/long';

const server = await startServer();
const ctx = await launchChromium(await profileDir());
let failed = true;
try {
  const page = await openSession(ctx, server.url, 'long', { backgroundFetch: false });
  await server.fault({ count: 1, slowBytesPerSec: rate, path });
  console.log(`uploading ${size / 1048576} MiB, read by the server at ${rate / 1024} KiB/s (${readSeconds.toFixed(0)} s)`);
  const started = Date.now();
  const { id } = await uploadRandom(page, size, { url: path });
  const limit = (readSeconds + 120) * 1000;
  // The task's final event (completed or failed), however long it takes within the limit.
  const end = await page.evaluate(({ id, limit }) => new Promise((resolve, reject) => {
    const final = (e) => e.taskId === id && (e.kind === 'completed' || e.kind === 'failed');
    const seen = window.ferryEvents.find(final);
    if (seen) return resolve(seen);
    const timer = setTimeout(() => reject(new Error(`no final event within ${limit} ms`)), limit);
    for (const kind of ['completed', 'failed']) {
      window.ferrySession.addEventListener(kind, (e) => {
        if (final(e.detail)) { clearTimeout(timer); resolve(e.detail); }
      });
    }
  }), { id, limit });
  const records = await settled(server, 1, { filter: (r) => r.path === path, timeout: 120000 });
  const events = await page.evaluate((id) => window.ferryEvents
    .filter((e) => e.taskId === id && e.kind !== 'progress')
    .map((e) => `${e.kind}${e.attempt ? ` (attempt ${e.attempt})` : ''}${e.reason ? `: ${e.reason}` : ''}`), id);
  console.log(`after ${((Date.now() - started) / 1000).toFixed(0)} s: ${end.kind} on attempt ${end.attempt}`);
  console.log(`events: ${events.join(', ')}`);
  for (const r of records) {
    console.log(`request: ${r.outcome}, ${r.bytes} bytes, status ${r.status}${r.duplicateOf ? `, duplicate of ${r.duplicateOf}` : ''}`);
  }
  failed = records.length !== 1 || end.kind !== 'completed' || end.attempt !== 1;
  console.log(failed ? 'FAILED: sent more than once, or not completed on attempt 1' : 'ok: sent once, completed on attempt 1');
} finally {
  await ctx.close();
  await server.stop();
}
process.exit(failed ? 1 : 0);
