// The static page: it starts the sign-in (PKCE, state and nonce made here with oauth4webapi),
// and hands logi's answer to the /api/exchange function, which holds the client secret.
import * as oauth from 'oauth4webapi';

const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await response.json();
  if (!response.ok && response.status !== 401) {
    throw new Error(`${json.error}: ${json.error_description ?? ''}`);
  }
  return response.ok ? json : null;
}

async function signIn() {
  const config = await api('GET', '/api/config');
  const pending = {
    code_verifier: oauth.generateRandomCodeVerifier(),
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
  };
  sessionStorage.setItem('pending', JSON.stringify(pending));
  const url = new URL(config.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    scope: 'openid profile email',
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(pending.code_verifier),
    code_challenge_method: 'S256',
  });
  window.location.assign(url);
}

function show(user) {
  $('signed-out').hidden = !!user;
  $('signed-in').hidden = !user;
  $('status').textContent = user ? 'Signed in' : 'Signed out';
  if (user) {
    $('email').textContent = user.email;
    $('name').textContent = user.name ?? '';
  }
}

async function start() {
  const query = window.location.search;
  const pending = JSON.parse(sessionStorage.getItem('pending') ?? 'null');
  if (query) window.history.replaceState(null, '', '/');
  if (pending && /[?&](code|error)=/.test(query)) {
    sessionStorage.removeItem('pending');
    const { user } = await api('POST', '/api/exchange', { query, ...pending });
    return show(user);
  }
  const me = await api('GET', '/api/me');
  show(me?.user);
}

async function signOut() {
  const { logout_url } = await api('POST', '/api/logout', {});
  window.location.assign(logout_url);
}

async function run(action) {
  $('error').textContent = '';
  try { await action(); } catch (e) { $('error').textContent = e.message; show(null); }
}

$('sign-in').onclick = () => run(signIn);
$('sign-out').onclick = () => run(signOut);
run(start);
