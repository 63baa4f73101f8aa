// ferry-upload, page entry, loaded only when the browser refused to register a service worker: what the
// worker's URL answers, for the error's message (the browser's own reason rarely says).

/** How a script of `url` says it fails, or '' if unknown; `type`: 'module' or 'classic', as registered. */
export async function scriptAnswer(url, type) {
  const res = await get(url);
  if (!res) return '';
  const was = `; ${url} answers ${res.status}`;
  const mime = (res.headers.get('content-type') || '').split(';')[0].trim().toLowerCase();
  const js = /^(text|application)\/(x-)?(javascript|ecmascript)$/.test(mime);
  if (!res.ok || !js) res.body?.cancel().catch(() => {});
  if (!res.ok) return `${was}: is the file served at that URL?`;
  if (!js) {
    return `${was} with Content-Type ${mime || 'none'}, not JavaScript: is the file served at that URL? (a dev ` +
      'server answers a path it does not know with its index.html; a bundler must build the worker as an ' +
      'entry of its own)';
  }
  const text = await res.text().catch(() => '');
  const ran = `${was} as JavaScript, so it failed as it was first run`;
  if (type === 'classic' && /^\s*(import(\s+[\w*{]|\s*['"{*])|export\s)/m.test(text)) {
    return `${ran}: it has import or export statements, so it is a module worker: register it with type ` +
      "'module' (the default: pass its URL alone)";
  }
  const imported = [...text.matchAll(/importScripts\s*\(\s*(['"`])([^'"`]+)\1/g)].map((m) => m[2]);
  if (type === 'module' && imported.length > 0) {
    return `${ran}: it calls importScripts, so it is a classic worker: register it with { url: ` +
      `${JSON.stringify(url)}, type: 'classic' }`;
  }
  for (const src of imported) {
    const got = await get(new URL(src, new URL(url, location.href)).href);
    got?.body?.cancel().catch(() => {});
    if (got && !got.ok) return `${ran}: the script it imports, ${src}, answers ${got.status}`;
  }
  return `${ran}: a module worker (type 'module') can import only URLs the browser resolves (a bare ` +
    "'ferry-upload/worker' needs a bundler), a classic one (importScripts) needs { url, type: 'classic' }, " +
    'and no top-level statement may throw';
}

async function get(url) {
  try {
    return await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  } catch {
    return null;
  }
}
