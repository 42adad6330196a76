// examples/spa-serverless in Chromium: the static page starts the sign-in, the serverless
// function (run by the example's local runner) redeems the code with the client secret from its
// environment, and the page gets only the app's own session cookie.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  EXAMPLES, LOGI, USER, allow, atLogi, expectText, freePort, launchBrowser, registerApp,
  screenshot, signIn, start,
} from './support/harness.mjs';

test('spa-serverless: the function exchanges the code; the page never sees a secret', async (t) => {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  // The registration of examples/spa-serverless/README.md.
  const app = await registerApp({
    client_name: 'SPA + serverless example',
    client_type: 'confidential',
    redirect_uris: [`${origin}/`],
    post_logout_redirect_uris: [`${origin}/`],
    grant_types: ['authorization_code'],
    scope: 'openid profile email',
  });

  const runner = start(t, process.execPath, [join(EXAMPLES, 'spa-serverless', 'dev-server.mjs')], {
    env: {
      PORT: String(port),
      APP_URL: origin,
      LOGI_ISSUER: LOGI,
      CLIENT_ID: app.client_id,
      CLIENT_SECRET: app.client_secret,
      SESSION_SECRET: randomBytes(32).toString('base64'),
    },
  });
  await runner.waitFor(/serving on/);

  const { context, page } = await launchBrowser(t);
  const bodies = [];
  page.on('response', async (r) => {
    if (r.url().startsWith(`${origin}/api/`)) bodies.push(await r.text().catch(() => ''));
  });
  await page.goto(`${origin}/`);
  await expectText(page, '#status', 'Signed out');
  await page.click('#sign-in');
  await signIn(page);
  await allow(page);
  await page.waitForURL(`${origin}/`);
  await expectText(page, '#email', USER.email);
  await screenshot(page, 'spa-serverless-1-signed-in');

  const session = (await context.cookies(`${origin}/api/me`)).find((c) => c.name === 'session');
  assert.ok(session?.httpOnly, 'an HttpOnly session cookie');
  for (const body of bodies) {
    assert.ok(!body.includes(app.client_secret), 'the secret never reaches the browser');
    assert.ok(!/"(access|refresh|id)_token"/.test(body), `no logi token reaches the browser: ${body}`);
  }

  // A reload: the session cookie still names the user.
  await page.reload();
  await expectText(page, '#email', USER.email);

  // Logout: no ID token is kept, so logi asks the person to confirm.
  await page.click('#sign-out');
  await page.waitForURL(atLogi('/oauth/logout'));
  await screenshot(page, 'spa-serverless-2-logi-asks');
  await page.click('button[type=submit]');
  await page.waitForURL(`${origin}/`);
  await expectText(page, '#status', 'Signed out');
  await page.click('#sign-in');
  await page.waitForURL(atLogi('/login'));
});
