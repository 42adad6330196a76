// examples/spa in Chromium: a static app on another origin signs in as a public client (PKCE
// S256), gets DPoP-bound tokens from a non-extractable key, calls userinfo, refreshes with
// rotation (also silently after a reload), revokes, and ends the logi session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serveStatic } from '../scripts/serve-static.mjs';
import {
  EXAMPLES, LOGI, USER, allow, atLogi, expectText, freePort, launchBrowser, registerApp,
  screenshot, signIn, text,
} from './support/harness.mjs';

test('spa: sign-in, DPoP, userinfo, refresh, revoke and logout from the browser', async (t) => {
  const port = await freePort();
  const origin = `http://localhost:${port}`; // logi is on 127.0.0.1: another origin
  // The registration of examples/spa/README.md.
  const app = await registerApp({
    client_name: 'SPA example',
    client_type: 'public',
    redirect_uris: [`${origin}/`],
    post_logout_redirect_uris: [`${origin}/`],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid profile email offline_access',
    dpop_bound_access_tokens: true,
    allowed_cors_origins: [origin],
  });
  assert.equal(app.token_endpoint_auth_method, 'none');
  assert.equal(app.client_secret, undefined);

  const server = await serveStatic(join(EXAMPLES, 'spa'), port, {
    '/config.json': JSON.stringify({ issuer: LOGI, client_id: app.client_id }),
  });
  t.after(() => server.close());

  const { page } = await launchBrowser(t);
  const tokenRequests = [];
  page.on('request', (r) => {
    if (r.url() === `${LOGI}/oauth/token`) tokenRequests.push(r.allHeaders());
  });

  await page.goto(`${origin}/`);
  await expectText(page, '#status', 'Signed out');
  await page.click('#sign-in');
  await signIn(page);
  await allow(page); // a loopback redirect of a public client always asks (RFC 8252 §8.6)
  await page.waitForURL(`${origin}/`);
  await expectText(page, '#email', USER.email); // from userinfo, called with DPoP
  assert.match(await text(page, '#token-type'), /^dpop$/i); // logi says DPoP; oauth4webapi lowercases
  assert.equal(await text(page, '#dpop-key'), 'ECDSA P-256, extractable: false');
  assert.ok(tokenRequests.length >= 1, 'the browser itself called the token endpoint');
  for (const headers of await Promise.all(tokenRequests)) {
    assert.equal(headers.origin, origin);
    assert.ok(headers.dpop, 'every token request carries a DPoP proof');
  }
  await screenshot(page, 'spa-1-signed-in');

  const first = await text(page, '#fingerprint');
  await page.click('#refresh');
  await expectText(page, '#refreshes', '1');
  const second = await text(page, '#fingerprint');
  assert.notEqual(second, first, 'a refresh brings a new access token');

  // A reload empties memory: the stored refresh token and key sign back in silently.
  await page.reload();
  await expectText(page, '#email', USER.email);
  await expectText(page, '#refreshes', '1');
  assert.notEqual(await text(page, '#fingerprint'), second);
  assert.match(await text(page, '#token-type'), /^dpop$/i);
  await screenshot(page, 'spa-2-refreshed-after-reload');

  // Revocation ends the family: the refresh token and the access token's grant.
  await page.click('#revoke');
  await expectText(page, '#notice', /revoked/);
  await page.click('#call-userinfo');
  await expectText(page, '#error', /^invalid_token/);
  await page.click('#refresh');
  await expectText(page, '#error', /^invalid_grant/);
  await screenshot(page, 'spa-3-revoked');

  // Logout ends the logi session too: signing in again asks for the password.
  await page.click('#sign-out');
  await page.waitForURL(`${origin}/`);
  await expectText(page, '#status', 'Signed out');
  await screenshot(page, 'spa-4-signed-out');
  await page.click('#sign-in');
  await page.waitForURL(atLogi('/login'));
});
