// Interoperability: openid-client (Node), as a new user would set it up, against logi: a
// confidential client with client_secret_basic, the code flow with PKCE in a real browser,
// userinfo, refresh, introspection and revocation. The only allowance is the http issuer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import {
  LOGI, USER, allow, freePort, launchBrowser, registerApp, signIn,
} from './support/harness.mjs';

test('openid-client: code flow with client_secret_basic', async (t) => {
  const redirectUri = `http://127.0.0.1:${await freePort()}/cb`;
  const app = await registerApp({
    client_name: 'openid-client interop',
    client_type: 'confidential',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid profile email offline_access',
  });
  const config = await client.discovery(new URL(LOGI), app.client_id, undefined,
    client.ClientSecretBasic(app.client_secret), { execute: [client.allowInsecureRequests] });

  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });

  // The person signs in and allows; the browser's trip to the redirect URI is caught here.
  const { page } = await launchBrowser(t);
  let callback;
  await page.route(`${redirectUri}**`, (route) => {
    callback = new URL(route.request().url());
    return route.fulfill({ body: 'ok' });
  });
  await page.goto(url.href);
  await signIn(page);
  await allow(page);
  await page.waitForURL(`${redirectUri}**`);
  assert.ok(callback);

  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  const claims = tokens.claims();
  assert.equal(claims.iss, LOGI);
  assert.equal(claims.aud, app.client_id);
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.email, USER.email);

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'rotation');
  const active = await client.tokenIntrospection(config, refreshed.access_token);
  assert.equal(active.active, true);
  assert.equal(active.client_id, app.client_id);

  await client.tokenRevocation(config, refreshed.refresh_token);
  const revoked = await client.tokenIntrospection(config, refreshed.access_token);
  assert.deepEqual(revoked, { active: false });
  await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token),
    (e) => e.error === 'invalid_grant');

  const logout = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token });
  assert.equal(logout.origin + logout.pathname, `${LOGI}/oauth/logout`);
});
