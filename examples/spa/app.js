// A single-page app signing in with logi as a public client: authorization code + PKCE S256,
// DPoP-bound tokens from a non-extractable key, refresh with rotation, userinfo, revocation and
// RP-initiated logout. Every protocol step is oauth4webapi's; this file only wires them up.

import * as oauth from 'oauth4webapi';
import { clearSession, loadSession, saveSession } from './storage.js';

const $ = (id) => document.getElementById(id);

const config = await (await fetch('./config.json')).json();
const issuer = new URL(config.issuer);
// A logi on plain http (local development and tests) must be allowed explicitly; production
// issuers are https and need nothing.
const http = issuer.protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {};
const client = { client_id: config.client_id };
const clientAuth = oauth.None(); // a public client has no secret
const redirectUri = new URL('./', window.location.href).href;
const SCOPE = 'openid profile email offline_access';

const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, http));

// In memory only: { keyPair, dpop, sub, accessToken, tokenType, expiresAt, refreshToken, idToken,
// refreshes, revoked }. IndexedDB holds the key pair, sub, refresh and ID token (storage.js).
let session = null;
let refreshTimer;

// logi may ask for a server-chosen nonce in DPoP proofs (`use_dpop_nonce`, RFC 9449 §8). The
// DPoP handle remembers the nonce of every response, so one more try succeeds.
async function retryingOnDPoPNonce(request) {
  try {
    return await request();
  } catch (e) {
    if (oauth.isDPoPNonceError(e)) return request();
    throw e;
  }
}

async function signIn() {
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  sessionStorage.setItem('pending', JSON.stringify({ codeVerifier, state, nonce }));
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: redirectUri,
    scope: SCOPE,
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  });
  window.location.assign(url);
}

async function completeSignIn(pending) {
  // Checks state and the RFC 9207 `iss`, and throws on `error=…`.
  const params = oauth.validateAuthResponse(as, client, new URL(window.location.href), pending.state);
  window.history.replaceState(null, '', redirectUri); // the code is spent: off the address bar
  // ES256 key pair, non-extractable (oauth4webapi's default).
  const keyPair = await oauth.generateKeyPair('ES256');
  const dpop = oauth.DPoP(client, keyPair);
  const result = await retryingOnDPoPNonce(async () =>
    oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri,
        pending.codeVerifier, { DPoP: dpop, ...http }),
      { expectedNonce: pending.nonce, requireIdToken: true },
    ));
  const { sub } = oauth.getValidatedIdTokenClaims(result);
  session = { keyPair, dpop, sub, refreshes: 0 };
  await accept(result);
}

async function accept(result) {
  Object.assign(session, {
    accessToken: result.access_token,
    tokenType: result.token_type,
    expiresAt: Date.now() + result.expires_in * 1000,
    refreshToken: result.refresh_token ?? session.refreshToken,
    idToken: result.id_token ?? session.idToken,
  });
  const { keyPair, sub, refreshToken, idToken } = session;
  await saveSession({ keyPair, sub, refreshToken, idToken });
  // Silent refresh a minute before the access token expires.
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => run(refresh), Math.max(result.expires_in - 60, 5) * 1000);
}

// Rotation: logi answers with a new refresh token and the old one is dead from now on.
async function refresh() {
  const result = await retryingOnDPoPNonce(async () =>
    oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, session.refreshToken,
        { DPoP: session.dpop, ...http }),
    ));
  session.refreshes += 1;
  await accept(result);
}

async function userinfo() {
  return retryingOnDPoPNonce(async () =>
    oauth.processUserInfoResponse(
      as,
      client,
      session.sub,
      await oauth.userInfoRequest(as, client, session.accessToken, { DPoP: session.dpop, ...http }),
    ));
}

// RFC 7009: revoking the refresh token ends its whole family at logi, access tokens included.
async function revoke() {
  await oauth.processRevocationResponse(
    await oauth.revocationRequest(as, client, clientAuth, session.refreshToken, http));
  session.revoked = true;
  clearTimeout(refreshTimer);
  await clearSession();
}

// Revokes what is left, forgets everything, and ends the logi session (RP-initiated logout);
// logi sends the browser back to `redirectUri`.
async function signOut() {
  if (!session.revoked) await revoke().catch(() => {});
  await clearSession();
  sessionStorage.clear();
  const url = new URL(as.end_session_endpoint);
  url.search = new URLSearchParams({
    client_id: client.client_id,
    post_logout_redirect_uri: redirectUri,
    ...(session.idToken ? { id_token_hint: session.idToken } : {}),
  });
  window.location.assign(url);
}

async function fingerprint(token) {
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token)));
  return btoa(String.fromCharCode(...hash.slice(0, 9))).replaceAll('+', '-').replaceAll('/', '_');
}

async function render() {
  $('signed-out').hidden = !!session;
  $('signed-in').hidden = !session;
  $('status').textContent = session ? 'Signed in' : 'Signed out';
  if (!session) return;
  $('token-type').textContent = session.tokenType;
  const key = session.keyPair.privateKey;
  $('dpop-key').textContent = `${key.algorithm.name} ${key.algorithm.namedCurve}, extractable: ${key.extractable}`;
  $('fingerprint').textContent = await fingerprint(session.accessToken);
  $('expires').textContent = new Date(session.expiresAt).toISOString();
  $('refreshes').textContent = String(session.refreshes);
}

function describe(e) {
  const challenge = e?.cause?.[0]?.parameters; // a WWW-Authenticate challenge of a resource
  const error = e?.error ?? challenge?.error;
  const description = e?.error_description ?? challenge?.error_description ?? e?.message;
  return error ? `${error}: ${description}` : String(description ?? e);
}

async function run(action) {
  $('error').textContent = '';
  try {
    await action();
  } catch (e) {
    console.error(e);
    $('error').textContent = describe(e);
  }
  await render();
}

async function showUser() {
  const info = await userinfo();
  $('email').textContent = info.email;
  $('userinfo').textContent = JSON.stringify(info, null, 2);
}

$('sign-in').onclick = () => run(signIn);
$('sign-out').onclick = () => run(signOut);
$('refresh').onclick = () => run(async () => {
  await refresh();
  $('notice').textContent = `Refreshed: new access token and a rotated refresh token.`;
});
$('call-userinfo').onclick = () => run(showUser);
$('revoke').onclick = () => run(async () => {
  await revoke();
  $('notice').textContent = 'Refresh token revoked: logi ended its whole family.';
});

run(async () => {
  const callback = new URL(window.location.href).searchParams;
  const pending = JSON.parse(sessionStorage.getItem('pending') ?? 'null');
  if (pending && (callback.has('code') || callback.has('error'))) {
    sessionStorage.removeItem('pending');
    await completeSignIn(pending);
    await showUser();
    return;
  }
  if (callback.size) window.history.replaceState(null, '', redirectUri);
  const stored = await loadSession();
  if (stored?.refreshToken) {
    // A new page load: memory is empty, so refresh silently with the stored refresh token and
    // the stored (still non-extractable) key.
    session = { ...stored, dpop: oauth.DPoP(client, stored.keyPair), refreshes: 0 };
    try {
      await refresh();
    } catch (e) {
      session = null;
      await clearSession();
      throw e;
    }
    await showUser();
  }
});
