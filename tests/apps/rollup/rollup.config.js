// The page and its module service worker. Rollup needs two plugins: node-resolve to find the package in
// node_modules, and import-meta-assets to emit the file named by `new URL('./ferry_bg.wasm', import.meta.url)`.
import { nodeResolve } from '@rollup/plugin-node-resolve';
import { importMetaAssets } from '@web/rollup-plugin-import-meta-assets';

export default {
  input: { main: 'src/main.js', sw: 'src/sw.js' },
  output: { dir: 'dist', format: 'es' },
  plugins: [nodeResolve(), importMetaAssets()],
};
