// Two entries, the page and its module service worker; webpack emits ferry_bg.wasm by itself (it
// follows `new URL('./ferry_bg.wasm', import.meta.url)` in the package). Nothing Ferry needs;
// the README's `performance.assetFilter` keeps the wasm out of webpack's size hints.
const path = require('node:path');

module.exports = {
  entry: { main: './src/main.js', sw: './src/sw.js' },
  performance: { assetFilter: (f) => !f.endsWith('.wasm') },
  output: { path: path.resolve(__dirname, 'dist'), filename: '[name].js', clean: true },
};
