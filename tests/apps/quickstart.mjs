// The README's Quickstart, read out of README.md: each fenced block of the section starts with a comment
// naming its file (`<!-- index.html -->`, `// src/main.js (the page)`). The test writes exactly these.
import { readFile } from 'node:fs/promises';

/** `{ 'index.html': text, 'src/main.js': text, ... }` from the `## Quickstart` section of `file`. */
export async function quickstartFiles(file) {
  const text = await readFile(file, 'utf8');
  const start = text.indexOf('\n## Quickstart');
  if (start < 0) throw new Error(`${file} has no "## Quickstart" section`);
  const rest = text.slice(start + 1);
  const end = rest.slice(3).search(/\n##+ /);
  const section = end < 0 ? rest : rest.slice(0, end + 3);
  const files = {};
  for (const [, body] of section.matchAll(/```[a-z]*\n([\s\S]*?)```/g)) {
    const name = /^(?:<!--|\/\/)\s*([\w./-]+)/.exec(body)?.[1];
    if (!name) throw new Error(`a Quickstart block of ${file} does not start with its file name:\n${body}`);
    files[name] = body;
  }
  return files;
}
