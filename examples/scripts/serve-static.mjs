// A minimal static file server for the pure SPA (any static server will do: nginx, a CDN,
// `python3 -m http.server`). Usage: node scripts/serve-static.mjs <folder> [port]
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.css': 'text/css; charset=utf-8',
};

/** Serves `folder` on 127.0.0.1:`port`; `overrides` maps paths to contents served instead. */
export function serveStatic(folder, port, overrides = {}) {
  const root = resolve(folder);
  const server = createServer(async (req, res) => {
    const { pathname } = new URL(req.url, 'http://localhost');
    const path = pathname.endsWith('/') ? `${pathname}index.html` : pathname;
    try {
      if (path in overrides) {
        res.writeHead(200, { 'content-type': types[extname(path)] ?? 'text/plain' });
        return res.end(overrides[path]);
      }
      const file = resolve(root, `.${decodeURIComponent(path)}`);
      if (!file.startsWith(root + sep)) throw new Error('outside the folder');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => done(server));
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [folder = '.', port = '5173'] = process.argv.slice(2);
  await serveStatic(folder, Number(port));
  console.log(`serving ${folder} on http://localhost:${port}/`);
}
