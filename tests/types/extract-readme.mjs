// Extracts the JavaScript examples of README.md, every section but the Quickstart (plain files of a Vite
// app, built and run by the bundlers layer: tests/apps/quickstart.mjs), into TypeScript files for tsc: one file per page or worker part, so each is checked against the lib it runs
// with (DOM for pages, WebWorker for service workers). Fences are found by the CommonMark rules (``` or
// ~~~, indented up to 3 spaces or inside list items), so a rewritten README keeps being extracted.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const README = path.resolve(HERE, '../../README.md');
export const OUT = path.join(HERE, 'generated/readme');

const SKIPPED = /^(#{1,6})\s+quick\s*start\b/i;
const LANGS = new Set(['js', 'javascript', 'mjs', 'ts', 'typescript']);
// A comment line that starts another file of the example ("// page", "// service worker (module)", "// sw.js").
const PART = /^\s*\/\/\s*(page|main(\.[jt]s)?|app(\.[jt]s)?|index(\.[jt]s)?|(module |classic )?service[ -]worker|worker|sw(\.[jt]s)?)\b/i;
const WORKER = /from\s+['"]ferry-upload\/worker['"]|\bimportScripts\s*\(|\binstallFerry\s*\(/;

/** The code blocks outside the Quickstart: `{ line, code }` for each js/ts fence. */
export function codeBlocks(markdown) {
  const lines = markdown.split(/\r?\n/);
  const blocks = [];
  let skipped = 0; // heading level of the Quickstart section we are in (0: outside it)
  let fence = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (fence) {
      const close = line.match(/^(\s*)(`{3,}|~{3,})\s*$/);
      if (close && close[2][0] === fence.char && close[2].length >= fence.len) {
        if (fence.keep) blocks.push({ line: fence.line, code: fence.body.join('\n') });
        fence = null;
      } else {
        fence.body.push(line.slice(Math.min(fence.indent, line.length - line.trimStart().length)));
      }
      continue;
    }
    const heading = line.match(/^(#{1,6})\s/);
    if (heading) {
      const m = line.match(SKIPPED);
      if (m) skipped = m[1].length;
      else if (skipped && heading[1].length <= skipped) skipped = 0;
      continue;
    }
    const open = line.match(/^(\s*(?:[-*+]\s+|\d+[.)]\s+)?)(`{3,}|~{3,})\s*([\w+-]*)/);
    if (open) {
      const lang = open[3].toLowerCase();
      fence = { char: open[2][0], len: open[2].length, indent: open[1].length, line: i + 1, body: [], keep: skipped === 0 && LANGS.has(lang) };
    }
  }
  return blocks;
}

/** Splits a block into the files it shows: at "// page" / "// service worker" comments, and where worker code follows page code. */
export function parts(code) {
  const out = [];
  let cur = [];
  const flush = () => {
    if (cur.some((l) => l.trim() && !l.trim().startsWith('//'))) out.push(cur.join('\n'));
    cur = [];
  };
  for (const line of code.split('\n')) {
    const pageSoFar = cur.some((l) => /from\s+['"]ferry-upload['"]/.test(l));
    if (PART.test(line) || (pageSoFar && WORKER.test(line) && /^\s*import\b/.test(line))) flush();
    cur.push(line);
  }
  flush();
  return out.map((text) => ({ kind: WORKER.test(text) ? 'worker' : 'page', text }));
}

/** Writes generated/readme/{page,worker}-N.ts; returns the list written. */
export async function extract() {
  const blocks = codeBlocks(await readFile(README, 'utf8'));
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });
  const files = [];
  for (const [b, block] of blocks.entries()) {
    for (const [p, part] of parts(block.code).entries()) {
      const name = `${part.kind}-${b + 1}-${p + 1}.ts`;
      const classic = /\bimportScripts\s*\(/.test(part.text)
        ? "declare const ferry: typeof import('ferry-upload/worker');\n" : '';
      // `export {}` makes every part a module (top-level await, no clashes between parts).
      await writeFile(path.join(OUT, name), `// README.md line ${block.line}\n${classic}${part.text}\nexport {};\n`);
      files.push({ name, kind: part.kind, line: block.line, text: part.text });
    }
  }
  return files;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const f of await extract()) console.log(`${f.name} (README.md line ${f.line}, ${f.kind})`);
}
