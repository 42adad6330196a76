// examples/bff in Chromium: the browser signs in through the BFF (a confidential client), holds
// only an HttpOnly session cookie, and the BFF calls userinfo, refreshes and logs out at logi.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BIN, LOGI, USER, allow, atLogi, expectText, freePort, launchBrowser, registerApp, screenshot,
  signIn, start, text,
} from './support/harness.mjs';

test('bff: sign-in, tokens kept server-side, refresh on demand, logout at logi', async (t) => {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  // The registration of examples/bff/README.md.
  const app = await registerApp({
    client_name: 'BFF example',
    client_type: 'confidential',
    redirect_uris: [`${origin}/callback`],
    post_logout_redirect_uris: [`${origin}/`],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid profile email offline_access',
  });
  assert.ok(app.client_secret, 'a confidential client gets its secret once');

  const bff = start(t, `${BIN}/logi-example-bff`, [], {
    env: {
      LOGI_ISSUER: LOGI,
      CLIENT_ID: app.client_id,
      CLIENT_SECRET: app.client_secret,
      PUBLIC_URL: origin,
      BIND: `127.0.0.1:${port}`,
    },
  });
  await bff.waitFor(/BFF listening/);

  const { context, page } = await launchBrowser(t);
  const seen = [];
  page.on('response', async (r) => {
    if (r.url().startsWith(origin)) seen.push(await r.text().catch(() => ''));
  });
  await page.goto(`${origin}/`);
  await expectText(page, '#status', 'Signed out');
  await page.click('#sign-in');
  await signIn(page);
  await allow(page);
  await page.waitForURL(`${origin}/`);
  await expectText(page, '#email', USER.email);

  const cookies = await context.cookies(origin);
  const session = cookies.find((c) => c.name === 'bff_session');
  assert.ok(session, `a session cookie: ${JSON.stringify(cookies)}`);
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');
  await screenshot(page, 'bff-1-signed-in');

  await page.click('#call-userinfo');
  await expectText(page, '#userinfo', new RegExp(`"email": "${USER.email}"`));
  const first = await text(page, '#fingerprint');
  await page.click('#refresh');
  await expectText(page, '#refreshes', '1');
  assert.notEqual(await text(page, '#fingerprint'), first, 'the refresh brought a new access token');
  await page.click('#call-userinfo');
  await expectText(page, '#userinfo', new RegExp(`"sub": "[^"]+"`));
  await screenshot(page, 'bff-2-refreshed');

  // Nothing the BFF sent the browser holds a logi token (JWTs start with "eyJ").
  assert.ok(seen.length > 0);
  for (const body of seen) assert.ok(!/eyJ[\w-]+\.eyJ/.test(body), `a token reached the browser: ${body}`);

  // The API refuses calls without the CSRF header (what a cross-site form would send).
  const forged = await page.evaluate(async () => (await fetch('/api/refresh', { method: 'POST' })).status);
  assert.equal(forged, 403);

  await page.click('#sign-out');
  await page.waitForURL(`${origin}/`);
  await expectText(page, '#status', 'Signed out');
  await screenshot(page, 'bff-3-signed-out');
  assert.equal((await context.cookies(origin)).find((c) => c.name === 'bff_session'), undefined);
  // The logi session ended too: signing in again asks for the password.
  await page.click('#sign-in');
  await page.waitForURL(atLogi('/login'));
});
