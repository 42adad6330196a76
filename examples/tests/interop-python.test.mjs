// Interoperability: the two common Python OAuth libraries, Authlib and requests-oauthlib, set up
// as their documentation shows (examples/interop-python), against logi. The scripts print the
// authorization URL and read the callback URL from stdin; the person's part (sign in, allow)
// happens here in headless Chromium, and the URL the browser brings back to the redirect URI (a
// loopback server of this test: page.route would miss logi's direct 302 to it for a signed-in,
// consented person) goes to the script. The only allowances: the http issuer, and
// OAUTHLIB_INSECURE_TRANSPORT for oauthlib.
//
// The scripts run in examples/interop-python/.venv, made here with `python3 -m venv` and
// `pip install -r requirements.txt` (exact versions from PyPI) when missing or outdated.
// Without Python >= 3.10 and its venv module the tests fail when CI is set, and skip otherwise.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import {
  EXAMPLES, LOGI, USER, allow, freePort, launchBrowser, registerApi, registerApp, signIn,
} from './support/harness.mjs';

const PROJECT = join(EXAMPLES, 'interop-python');
const VENV = join(PROJECT, '.venv');
const PYTHON = join(VENV, 'bin', 'python');
const IN_CI = ['true', '1', 'yes'].includes((process.env.CI ?? '').toLowerCase());

/** Runs a command to its end; resolves with its exit code and output (never rejects). */
function run(command, args, { cwd = PROJECT, timeout = 60_000 } = {}) {
  return new Promise((resolve) => {
    let output = '';
    let child;
    try {
      child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      resolve({ code: -1, output: String(error) });
      return;
    }
    const timer = setTimeout(() => {
      output += `\n(killed after ${timeout} ms)`;
      child.kill('SIGKILL');
    }, timeout);
    child.stdout.on('data', (c) => { output += c; });
    child.stderr.on('data', (c) => { output += c; });
    child.on('error', (error) => { output += String(error); });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, output });
    });
  });
}

/** The venv with requirements.txt installed; a string saying what is missing when Python or
 *  its venv module is absent. */
async function pythonVenv() {
  const requirements = readFileSync(join(PROJECT, 'requirements.txt'), 'utf8');
  const stamp = join(VENV, 'installed-requirements.txt');
  if (existsSync(PYTHON) && existsSync(stamp) && readFileSync(stamp, 'utf8') === requirements) {
    return null;
  }
  const python3 = process.env.PYTHON3 ?? 'python3';
  const install = 'on Debian: apt-get install python3 python3-venv';
  const version = await run(python3, ['-c', 'import sys; sys.exit(sys.version_info < (3, 10))']);
  if (version.code !== 0) {
    return `Python >= 3.10 is needed (${python3}: ${version.output.trim() || `exit ${version.code}`}); ${install}`;
  }
  if (!existsSync(join(VENV, 'bin', 'pip'))) {
    const venv = await run(python3, ['-m', 'venv', '--clear', VENV]);
    if (venv.code !== 0) {
      rmSync(VENV, { recursive: true, force: true });
      return `\`${python3} -m venv\` failed (${venv.output.trim()}); ${install}`;
    }
  }
  const pip = await run(PYTHON, ['-m', 'pip', 'install', '--disable-pip-version-check',
    '--no-input', '--quiet', '-r', 'requirements.txt'], { timeout: 240_000 });
  assert.equal(pip.code, 0, `pip install -r examples/interop-python/requirements.txt:\n${pip.output}`);
  writeFileSync(stamp, requirements);
  return null;
}

let missing = null;
before(async () => {
  missing = await pythonVenv();
  if (missing && IN_CI) throw new Error(`interop-python needs Python: ${missing}`);
}, { timeout: 300_000 });

/**
 * Runs one of the scripts. When it prints its authorization URL, `person(url)` plays the
 * person's part and returns the callback URL, which goes to the script's stdin. Resolves with
 * the script's JSON summary; a non-zero exit fails with what the script said.
 */
async function script(t, name, args, env, person) {
  const child = spawn(PYTHON, [name, ...args], {
    cwd: PROJECT,
    env: { ...process.env, PYTHONUNBUFFERED: '1', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let asked = false;
  let personDone = Promise.resolve();
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? signal)));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  child.stdout.on('data', (c) => { stdout += c; });
  child.stderr.on('data', (c) => {
    stderr += c;
    const match = !asked && stderr.match(/^authorize: (\S+)$/m);
    if (match) {
      asked = true;
      personDone = person
        ? person(match[1]).then((callback) => child.stdin.end(`${callback}\n`))
        : Promise.reject(new Error(`${name} unexpectedly asked for a browser: ${match[1]}`));
      personDone.catch(() => child.kill('SIGTERM'));
    }
  });
  let timer;
  const code = await Promise.race([
    exited,
    new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), 90_000); }),
  ]);
  clearTimeout(timer);
  await personDone; // a failure in the browser is the error to report
  assert.equal(code, 0, `${name} ${args.join(' ')} ended with ${code}:\n${stderr}`);
  if (person) assert.ok(asked, `${name} never printed an authorization URL:\n${stderr}`);
  try {
    return JSON.parse(stdout);
  } catch {
    assert.fail(`${name} printed no JSON summary:\n${stdout}\n${stderr}`);
  }
}

/** The redirect URI: a loopback server that notes each callback URL and answers a short page. */
async function callbackServer(t) {
  const port = await freePort();
  const arrived = [];
  let wake = () => {};
  const server = createServer((request, response) => {
    if (!request.url.startsWith('/callback')) { // the browser's /favicon.ico
      response.statusCode = 404;
      response.end();
      return;
    }
    arrived.push(`http://127.0.0.1:${port}${request.url}`);
    response.end('Signed in: you may close this tab.');
    wake();
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return {
    redirectUri: `http://127.0.0.1:${port}/callback`,
    /** The next callback URL, or a failure saying where the browser is after `timeout`. */
    async next(page, timeout = 15_000) {
      const deadline = Date.now() + timeout;
      while (arrived.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => {
          wake = resolve;
          setTimeout(resolve, 200);
        });
      }
      if (arrived.length === 0) {
        assert.fail(`the browser did not come back to the redirect URI; it is at ${page.url()}`);
      }
      return arrived.shift();
    },
  };
}

/** The person in the browser: opens the URL, signs in and allows when asked; returns the URL
 *  the browser was sent back to. */
async function authorize(page, url, callback, { signedIn = false, consented = false } = {}) {
  await page.goto(url);
  if (!signedIn) await signIn(page);
  if (!consented) await allow(page);
  return callback.next(page);
}

const tokenPosts = (seen) => seen.map(({ path, grant_type: grant }) => `${path} ${grant ?? ''}`.trim());

function assertCodeFlow(summary, app, method) {
  assert.equal(summary.library, 'authlib');
  assert.equal(summary.auth_method, method);
  assert.ok(typeof summary.sub === 'string' && summary.sub.length > 0, 'sub');
  assert.equal(summary.id_token.iss, LOGI);
  assert.deepEqual([summary.id_token.aud].flat(), [app.client_id]);
  assert.equal(summary.id_token.nonce_matches, true);
  assert.equal(summary.id_token.at_hash_checked, true, 'the ID token carries at_hash (SPEC)');
  assert.equal(summary.userinfo.sub, summary.sub);
  assert.equal(summary.userinfo.email, USER.email);
  assert.equal(summary.refreshes, 2);
  assert.equal(summary.refresh_tokens_distinct, true, 'every refresh rotated the refresh token');
  assert.deepEqual(summary.introspection, { active: true, client_id: app.client_id });
  // After the refresh token's revocation (RFC 7009), its grant is dead (SPEC "Tokens").
  assert.deepEqual(summary.after_revocation, {
    introspection: { active: false },
    userinfo_status: 401,
    refresh: 'invalid_grant',
  });
  // Every request that authenticates the client did it the chosen way, and only that way.
  assert.deepEqual(tokenPosts(summary.client_auth_seen), [
    '/oauth/token authorization_code',
    '/oauth/token refresh_token',
    '/oauth/token refresh_token',
    '/oauth/introspect',
    '/oauth/revoke',
    '/oauth/introspect',
    '/oauth/token refresh_token',
  ]);
  for (const seen of summary.client_auth_seen) assert.equal(seen.client_auth, method, seen.path);
}

test('interop-python: Authlib web app, client_secret_basic then client_secret_post', async (t) => {
  if (missing) return t.skip(missing);
  const callback = await callbackServer(t);
  const { redirectUri } = callback;
  const app = await registerApp({
    client_name: 'Authlib interop',
    client_type: 'confidential',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid profile email offline_access',
  });
  const env = {
    LOGI_ISSUER: LOGI,
    CLIENT_ID: app.client_id,
    CLIENT_SECRET: app.client_secret,
    REDIRECT_URI: redirectUri,
  };
  const { page } = await launchBrowser(t);

  const basic = await script(t, 'authlib_client.py', ['code', '--auth', 'client_secret_basic'],
    env, (url) => authorize(page, url, callback));
  assertCodeFlow(basic, app, 'client_secret_basic');
  t.diagnostic(`Authlib ${basic.version}: ID token ${basic.id_token.alg}, sub ${basic.sub}`);

  // The same client (registered with client_secret_basic) with the secret in the body: a
  // secret-holding client accepts both (SPEC "Client types"). The person is still signed in and
  // consent is remembered for a confidential client, so the browser comes straight back.
  const post = await script(t, 'authlib_client.py', ['code', '--auth', 'client_secret_post'],
    env, (url) => authorize(page, url, callback, { signedIn: true, consented: true }));
  assertCodeFlow(post, app, 'client_secret_post');
  assert.equal(post.sub, basic.sub);
});

test('interop-python: Authlib machine client, client_credentials for an API', async (t) => {
  if (missing) return t.skip(missing);
  const id = randomUUID().slice(0, 8);
  const identifier = `https://api.example.com/python-interop/${id}`;
  const scope = `interop-${id}:read`; // unique: a developer's APIs cannot share a scope name
  await registerApi({
    name: `Python interop API ${id}`,
    identifier,
    scopes: [{ name: scope, description: 'Read the interop reports' }],
  });
  const app = await registerApp({
    client_name: 'Authlib machine client',
    client_type: 'confidential',
    redirect_uris: [],
    grant_types: ['client_credentials'],
    scope,
  });
  const summary = await script(t, 'authlib_client.py', ['client-credentials'], {
    LOGI_ISSUER: LOGI,
    CC_CLIENT_ID: app.client_id,
    CC_CLIENT_SECRET: app.client_secret,
    CC_SCOPE: scope,
    API_AUDIENCE: identifier,
  });
  assert.equal(summary.flow, 'client_credentials');
  assert.equal(summary.access_token.typ.toLowerCase(), 'at+jwt');
  assert.deepEqual([summary.access_token.aud].flat(), [identifier]);
  assert.equal(summary.access_token.client_id, app.client_id);
  assert.deepEqual(summary.access_token.scope.split(' '), [scope]);
  assert.equal(summary.refresh_token_issued, false, 'RFC 6749 §4.4.3: no refresh token');
  assert.deepEqual(summary.introspection, { active: true, client_id: app.client_id });
  assert.deepEqual(tokenPosts(summary.client_auth_seen),
    ['/oauth/token client_credentials', '/oauth/introspect']);
  for (const seen of summary.client_auth_seen) assert.equal(seen.client_auth, 'client_secret_basic');
});

test('interop-python: requests-oauthlib web app, PKCE, Basic then secret in the body', async (t) => {
  if (missing) return t.skip(missing);
  const callback = await callbackServer(t);
  const { redirectUri } = callback;
  // token_endpoint_auth_method left out: client_secret_basic for a confidential client (SPEC).
  const app = await registerApp({
    client_name: 'requests-oauthlib interop',
    client_type: 'confidential',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid profile email offline_access',
  });
  assert.equal(app.token_endpoint_auth_method, 'client_secret_basic');
  const { page } = await launchBrowser(t);
  const summary = await script(t, 'requests_oauthlib_client.py', [], {
    LOGI_ISSUER: LOGI,
    CLIENT_ID: app.client_id,
    CLIENT_SECRET: app.client_secret,
    REDIRECT_URI: redirectUri,
    OAUTHLIB_INSECURE_TRANSPORT: '1',
  }, (url) => authorize(page, url, callback));
  t.diagnostic(`requests-oauthlib ${summary.version}, oauthlib ${summary.oauthlib}`);
  assert.equal(summary.library, 'requests-oauthlib');
  assert.equal(summary.pkce, true);
  assert.equal(summary.userinfo.email, USER.email);
  assert.ok(summary.sub, 'sub');
  assert.equal(summary.refreshes, 2);
  assert.equal(summary.refresh_tokens_distinct, true, 'every refresh rotated the refresh token');
  // The library's defaults: Basic for the code, client_id and client_secret in the body for the
  // refreshes (its documentation's way); logi accepts both from the same client.
  assert.deepEqual(summary.client_auth_seen.map((s) => `${s.grant_type} ${s.client_auth}`), [
    'authorization_code client_secret_basic',
    'refresh_token client_secret_post',
    'refresh_token client_secret_post',
  ]);
});
