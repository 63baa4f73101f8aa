// Kill soak: uploads keep being handed to Ferry while the browser is SIGKILLed at random points and
// relaunched with the same profile. At the end every handed-over upload must be applied exactly once.
// Usage: node soak.mjs --kills N [--seed S]. Prints `uploads U, kills K, lost L, applied twice D`.
import { startServer, profileDir, launchChromium, openSession, killBrowser, serviceWorker, until, FAST_SYNC_RETRY } from './harness.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
const kills = opt('--kills', 5);
let seed = opt('--seed', Date.now() % 100000) >>> 0 || 1;
const random = () => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 4294967296; };

const server = await startServer();
const dir = await profileDir();
const handed = new Map(); // idempotency key -> task id: uploads whose upload() resolved
let done = 0;
try {
  for (let round = 0; round < kills; round++) {
    const ctx = await launchChromium(dir, { args: FAST_SYNC_RETRY });
    // Slow reads make a kill likely to land mid-body; each round a different share of the body.
    await server.fault({ count: 3, slowBytesPerSec: (2 + Math.floor(random() * 6)) * 1024 * 1024 });
    const page = await openSession(ctx, server.url, 'soak', { retry: { baseMs: 200, capMs: 2000 }, backgroundFetch: false });
    const uploads = page.evaluate(async (sizes) => {
      const out = [];
      for (const size of sizes) {
        const bytes = new Uint8Array(size);
        for (let off = 0; off < size; off += 65536) crypto.getRandomValues(bytes.subarray(off, Math.min(size, off + 65536)));
        const id = await window.ferrySession.upload(new Blob([bytes]), { url: '/upload/soak' });
        const task = await window.ferrySession.get(id);
        out.push([task.idempotencyKey, id]);
        window.ferryHanded = out;
      }
      return out;
    }, [1, 2, 3].map(() => (1 + Math.floor(random() * 6)) * 1024 * 1024)).catch(() => null);
    await new Promise((r) => setTimeout(r, 200 + Math.floor(random() * 2500)));
    // What the page had handed over when the kill lands (upload() resolved), read just before it.
    const before = await page.evaluate(() => window.ferryHanded || []).catch(() => []);
    for (const [key, id] of before) handed.set(key, id);
    await killBrowser(ctx);
    const finished = await uploads;
    for (const [key, id] of finished || []) handed.set(key, id);
  }
  // Last launch: no page; the worker finishes what is left by itself (pending sync), then a page to be sure.
  const ctx = await launchChromium(dir, { args: FAST_SYNC_RETRY });
  try {
    await serviceWorker(ctx);
    await openSession(ctx, server.url, 'soak');
    await until(async () => {
      const keys = await server.keys();
      return [...handed.keys()].every((k) => keys[k]?.applied >= 1);
    }, { timeout: 180000, interval: 500, what: 'every handed-over upload to be applied' }).catch(() => {});
  } finally {
    await ctx.close();
  }
  const keys = await server.keys();
  const lost = [...handed.keys()].filter((k) => !(keys[k]?.applied >= 1)).length;
  const twice = Object.values(keys).filter((k) => k.applied > 1).length;
  console.log(`uploads ${handed.size}, kills ${kills}, lost ${lost}, applied twice ${twice}`);
  done = lost === 0 && twice === 0 ? 0 : 1;
} finally {
  await server.stop();
}
process.exit(done);
