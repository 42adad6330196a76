// examples/native: the app listens on a random loopback port, opens "the system browser"
// ($BROWSER, here a script handing the URL to Chromium), the person signs in and allows, and
// the browser brings the code back to the app, which redeems it with its PKCE verifier.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BIN, EXAMPLES, USER, allow, launchBrowser, registerApp, screenshot, signIn, start,
  tempDir,
} from './support/harness.mjs';

async function waitForFile(path, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`nothing opened a browser (${path})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return readFileSync(path, 'utf8').trim();
}

test('native: loopback redirect on a random port, PKCE, system browser', async (t) => {
  // The registration of examples/native/README.md: no port in the redirect URI.
  const app = await registerApp({
    client_name: 'Native example',
    client_type: 'public',
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code'],
    scope: 'openid profile email',
  });
  const capture = join(tempDir(t), 'opened-url');
  const native = start(t, `${BIN}/logi-example-native`, [], {
    env: {
      LOGI_ISSUER: process.env.LOGI_URL,
      CLIENT_ID: app.client_id,
      BROWSER: join(EXAMPLES, 'tests', 'support', 'browser.sh'),
      CAPTURE_URL_FILE: capture,
    },
  });
  const opened = new URL(await waitForFile(capture));
  const redirect = new URL(opened.searchParams.get('redirect_uri'));
  assert.equal(redirect.hostname, '127.0.0.1');
  assert.ok(Number(redirect.port) > 0, 'a port of its own, not the registered one');
  assert.equal(opened.searchParams.get('code_challenge_method'), 'S256');
  await native.waitFor(/If it does not open, visit/);

  const { page } = await launchBrowser(t);
  await page.goto(opened.href);
  await signIn(page);
  await allow(page);
  await page.waitForURL((u) => u.href.startsWith(`${redirect.origin}/callback`));
  await page.getByText('You can close this window').waitFor();
  await screenshot(page, 'native-1-back-in-the-app');

  await native.waitFor(new RegExp(`Signed in as ${USER.email.replace('.', '\\.')}`));
  assert.equal(await native.exited, 0, native.output());
  assert.match(native.output(), /token_type Bearer/);
  // The port was for this sign-in only.
  const again = await fetch(`${redirect.origin}/callback`).then(() => 'open', () => 'closed');
  assert.equal(again, 'closed');
});
