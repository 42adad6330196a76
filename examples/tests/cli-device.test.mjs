// examples/cli-device: `login` shows a code, the person enters it at logi's /device page in a
// browser and allows; the CLI gets DPoP-bound tokens and keeps the refresh token (with its DPoP
// key) in a 0600 file; `whoami` refreshes with rotation; `logout` revokes and forgets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BIN, LOGI, USER, allow, launchBrowser, registerApp, screenshot, signIn, start, tempDir,
} from './support/harness.mjs';

test('cli-device: device flow, DPoP, 0600 credentials, rotation, revocation', async (t) => {
  // The registration of examples/cli-device/README.md.
  const app = await registerApp({
    client_name: 'CLI example',
    client_type: 'public',
    redirect_uris: [],
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    scope: 'openid profile email offline_access',
    dpop_bound_access_tokens: true,
  });
  const credentials = join(tempDir(t), 'config', 'credentials.json');
  const env = { LOGI_ISSUER: LOGI, CLIENT_ID: app.client_id, LOGI_CLI_CREDENTIALS: credentials };
  const cli = (t, command) => start(t, `${BIN}/logi-example-cli-device`, [command], { env });

  const login = cli(t, 'login');
  const [, uri] = await login.waitFor(/visit (\S+)/);
  const [, code] = await login.waitFor(/enter the code (\S+)/);
  assert.equal(uri, `${LOGI}/device`);

  // The person, in a browser: the page the CLI named, sign in, type the code, allow.
  const { page } = await launchBrowser(t);
  await page.goto(uri);
  await signIn(page);
  await page.fill('input[name=user_code]', code);
  await page.click('button[type=submit]');
  await screenshot(page, 'cli-device-1-consent');
  await allow(page);
  await page.waitForLoadState();
  await screenshot(page, 'cli-device-2-allowed');

  await login.waitFor(new RegExp(`Signed in as ${USER.email.replace('.', '\\.')} \\(token_type DPoP\\)`), 30_000);
  assert.equal(await login.exited, 0, login.output());
  assert.equal(statSync(credentials).mode & 0o777, 0o600, 'credentials are 0600');
  assert.equal(statSync(join(credentials, '..')).mode & 0o777, 0o700);
  const first = JSON.parse(readFileSync(credentials, 'utf8')).refresh_token;

  // A copied refresh token without the DPoP key is refused (and the family survives).
  const stolen = await fetch(`${LOGI}/oauth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first, client_id: app.client_id }),
  });
  assert.equal(stolen.status, 400, await stolen.clone().text());

  const whoami = cli(t, 'whoami');
  assert.equal(await whoami.exited, 0, whoami.output());
  assert.match(whoami.output(), /Signed in as .* \(token_type DPoP\)/);
  const second = JSON.parse(readFileSync(credentials, 'utf8')).refresh_token;
  assert.notEqual(second, first, 'the refresh token rotated and the file holds the new one');
  assert.equal(statSync(credentials).mode & 0o777, 0o600);

  const saved = readFileSync(credentials);
  const logout = cli(t, 'logout');
  assert.equal(await logout.exited, 0, logout.output());
  assert.ok(!existsSync(credentials), 'the credentials file is gone');
  const after = cli(t, 'whoami');
  assert.equal(await after.exited, 1);
  assert.match(after.output(), /not signed in/);
  // A copy of the file kept from before is worth nothing: logi revoked the token.
  writeFileSync(credentials, saved, { mode: 0o600 });
  const copy = cli(t, 'whoami');
  assert.equal(await copy.exited, 1);
  assert.match(copy.output(), /refresh refused \(invalid_grant/);
});
