// The peer of logi's load benchmark (benches/load/peer.rs starts and stops it):
// node-oidc-provider with its default in-memory store, in node's `cluster` with 2 workers.
//
//   PORT=<port> CLIENT_SECRET=<secret> node server.mjs
//
// Listens on 127.0.0.1:<port> only; the issuer is http://127.0.0.1:<port>. One confidential
// client (`bench`, client_secret_basic) may use client_credentials, authorization_code (PKCE
// S256 required) and refresh_token (rotated on every use); ID tokens are RS256. The endpoints sit
// at logi's paths (/oauth/authorize, /oauth/token) so both are driven by the same requests.
//
// Interaction: GET /interaction/<uid> signs the fixed account in and records a Grant for the
// scopes asked for, without a page (the benchmark does this once per connection, before it
// measures). State lives in the memory of the worker that served the request, so each benchmark
// connection signs in, consents and starts its refresh chain over its own keep-alive connection.
//
// The primary stops its workers and exits when its stdin closes (the benchmark holds the other
// end) or on SIGTERM/SIGINT, so nothing outlives the benchmark.

import cluster from 'node:cluster';
import crypto from 'node:crypto';
import http from 'node:http';

const WORKERS = 2;
const ACCOUNT = 'bench-account';
const REDIRECT_URI = 'https://rp.example/cb';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('PORT must be a port number');
  process.exit(2);
}

if (cluster.isPrimary) {
  const secret = process.env.CLIENT_SECRET;
  if (!secret) {
    console.error('CLIENT_SECRET is required');
    process.exit(2);
  }
  // One signing key and one cookie key for all workers, made here and handed down.
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', alg: 'RS256', use: 'sig' };
  const env = {
    PEER_JWK: JSON.stringify(jwk),
    PEER_COOKIE_KEY: crypto.randomBytes(32).toString('base64url'),
  };

  let listening = 0;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGKILL');
    process.exit(0);
  };
  cluster.on('listening', () => {
    listening += 1;
    if (listening === WORKERS) console.log(`ready: ${WORKERS} workers on 127.0.0.1:${port}`);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} exited (${signal ?? code}); stopping`);
      stop();
    }
  });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  for (let i = 0; i < WORKERS; i += 1) cluster.fork(env);
} else {
  const { default: Provider } = await import('oidc-provider');
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'bench',
      client_secret: process.env.CLIENT_SECRET,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      id_token_signed_response_alg: 'RS256',
    }],
    jwks: { keys: [JSON.parse(process.env.PEER_JWK)] },
    cookies: { keys: [process.env.PEER_COOKIE_KEY] },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
    },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    // logi's defaults (src/config.rs).
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      IdToken: 3600,
      Interaction: 3600,
      Grant: 30 * 24 * 3600,
      RefreshToken: 30 * 24 * 3600,
      Session: 12 * 3600,
    },
    routes: { authorization: '/oauth/authorize', token: '/oauth/token' },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      if (sub !== ACCOUNT) return undefined;
      return { accountId: sub, async claims() { return { sub }; } };
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));

  // Signs in the fixed account and grants what the request asked for, in one step.
  async function interaction(req, res) {
    try {
      const { params } = await provider.interactionDetails(req, res);
      const grant = new provider.Grant({ accountId: ACCOUNT, clientId: params.client_id });
      grant.addOIDCScope(params.scope);
      const grantId = await grant.save();
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: ACCOUNT }, consent: { grantId } },
        { mergeWithLastSubmission: false },
      );
    } catch (err) {
      console.error('interaction', err);
      res.statusCode = 400;
      res.end(String(err));
    }
  }

  const app = provider.callback();
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
      interaction(req, res);
    } else {
      app(req, res);
    }
  });
  // A benchmark connection stays open between its set-up and its run.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  server.listen(port, '127.0.0.1');
}
