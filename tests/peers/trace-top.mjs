// Where each thread of a traced bench phase spent its time: `node peers/trace-top.mjs <trace.json> [N]`
// prints, per thread that V8 sampled (the service worker, the page), its N busiest functions by self
// time. Traces come from `FERRY_BENCH_TRACE=dir` (peers/contenders.mjs). Name the wasm functions by
// running the bench with FERRY_PKG pointing at a build whose .wasm keeps its name section.
import { readFileSync } from 'node:fs';

const [file, top = '25'] = process.argv.slice(2);
if (!file) throw new Error('usage: node peers/trace-top.mjs <trace.json> [N]');
const events = JSON.parse(readFileSync(file, 'utf8'));
const threads = new Map();
for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') threads.set(`${e.pid}:${e.tid}`, e.args.name);
// One profile per sampled thread: its nodes (call frames) and samples arrive in chunks.
const profiles = new Map();
for (const e of events) {
  if (e.name === 'Profile') profiles.set(`${e.pid}:${e.id}`, { thread: threads.get(`${e.pid}:${e.tid}`) ?? `${e.pid}:${e.tid}`, nodes: new Map(), samples: [], deltas: [] });
  if (e.name !== 'ProfileChunk') continue;
  const p = profiles.get(`${e.pid}:${e.id}`);
  const data = e.args.data;
  for (const n of data.cpuProfile?.nodes ?? []) p.nodes.set(n.id, n.callFrame);
  p.samples.push(...(data.cpuProfile?.samples ?? []));
  p.deltas.push(...(data.timeDeltas ?? []));
}
for (const p of profiles.values()) {
  if (p.samples.length === 0) continue;
  const self = new Map();
  let total = 0;
  // A sample's time is the gap to the next one.
  p.samples.forEach((id, i) => {
    const dt = p.deltas[i + 1] ?? 0;
    const f = p.nodes.get(id) ?? {};
    const name = `${f.functionName || '(anonymous)'} ${(f.url || '').split('/').pop()}`.trim();
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  });
  console.log(`${p.thread}: ${(total / 1000).toFixed(0)} ms sampled`);
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
    console.log(`${(us / 1000).toFixed(1).padStart(10)} ms  ${name}`);
  }
}
