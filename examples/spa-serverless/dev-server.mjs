// A tiny local stand-in for Vercel or Netlify: serves public/ as static files and runs
// api/<name>.mjs for /api/<name>, turning Node's request into a Web `Request` and the
// function's `Response` back. Deployed, the platform does this part.
//
//   PORT=8888 APP_URL=http://localhost:8888 LOGI_ISSUER=… CLIENT_ID=… CLIENT_SECRET=… \
//   SESSION_SECRET=$(head -c 32 /dev/urandom | base64) node dev-server.mjs
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
const publicDir = resolve(root, 'public');
const functions = new Set(['config', 'exchange', 'me', 'logout']);
const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

async function runFunction(name, req, res) {
  const { default: handler } = await import(`./api/${name}.mjs`);
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) {
    for (const v of [value].flat()) headers.append(key, v);
  }
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const hasBody = !['GET', 'HEAD'].includes(req.method);
  const request = new Request(new URL(req.url, `http://${req.headers.host}`), {
    method: req.method,
    headers,
    body: hasBody ? Buffer.concat(chunks) : undefined,
  });
  const response = await handler(request);
  const out = [...response.headers].filter(([key]) => key !== 'set-cookie');
  for (const cookie of response.headers.getSetCookie()) out.push(['set-cookie', cookie]);
  res.writeHead(response.status, out.flat());
  res.end(Buffer.from(await response.arrayBuffer()));
}

async function serveStatic(pathname, res) {
  const file = resolve(publicDir, `.${pathname === '/' ? '/index.html' : pathname}`);
  if (!file.startsWith(publicDir + sep)) throw Object.assign(new Error('outside'), { code: 'ENOENT' });
  const body = await readFile(file);
  res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
  res.end(body);
}

const server = createServer(async (req, res) => {
  const { pathname } = new URL(req.url, 'http://localhost');
  try {
    const fn = pathname.match(/^\/api\/([a-z]+)$/)?.[1];
    if (fn && functions.has(fn)) await runFunction(fn, req, res);
    else await serveStatic(decodeURIComponent(pathname), res);
  } catch (e) {
    if (e.code !== 'ENOENT') console.error(e);
    if (!res.headersSent) res.writeHead(e.code === 'ENOENT' ? 404 : 500).end();
  }
});

const port = Number(process.env.PORT ?? 8888);
server.listen(port, process.env.HOST ?? '127.0.0.1', () => {
  console.log(`serving on http://localhost:${port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
