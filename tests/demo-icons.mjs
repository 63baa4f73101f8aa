// Renders the demo's logo (www/icons/ferry.svg) into the PNG icons its manifest lists, with the same
// headless Chromium the tests use. Run it after changing the SVG: `node tests/demo-icons.mjs`; the PNGs
// are committed, so nothing runs this at build or test time.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './harness.mjs';

const ICONS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../www/icons');
const svg = await readFile(path.join(ICONS, 'ferry.svg'), 'utf8');
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
try {
  for (const size of [192, 512]) {
    const page = await browser.newPage({ viewport: { width: size, height: size } });
    await page.setContent(`<style>html,body{margin:0}svg{display:block;width:${size}px;height:${size}px}</style>${svg}`);
    await page.screenshot({ path: path.join(ICONS, `ferry-${size}.png`) });
    await page.close();
    console.log(`www/icons/ferry-${size}.png`);
  }
} finally {
  await browser.close();
}
