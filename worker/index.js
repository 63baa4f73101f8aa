// Ferry page entry: loads the wasm once, then exposes the Rust `Ferry` API.
import init from './ferry.js';

await init({ module_or_path: new URL('./ferry_bg.wasm', import.meta.url) });

export { Ferry } from './ferry.js';
