// logi's own pages as a person sees them: every page, in the light and the dark colour scheme,
// at a desktop (1280×800) and a phone (390×844) width, checked with axe-core (no serious or
// critical violation) and for horizontal overflow; screenshots go to docs/screenshots/ (linked
// from the README), so a change to a page shows in review.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { EXAMPLES, LOGI, atLogi, launchBrowser, registerApp, signIn } from './support/harness.mjs';

const SHOTS = join(EXAMPLES, '..', 'docs', 'screenshots');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
];
const SCHEMES = ['light', 'dark'];

/** Checks the page now open in every colour scheme and width; returns the problems found. */
async function walk(page, name) {
  const problems = [];
  for (const scheme of SCHEMES) {
    for (const viewport of VIEWPORTS) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize({ width: viewport.width, height: viewport.height });
      const where = `${name} (${scheme}, ${viewport.width}px)`;
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      if (overflow > 0) problems.push(`${where}: ${overflow}px of horizontal overflow`);
      // axe runs in the page; the context bypasses the CSP for it only (logi's own pages
      // allow no inline script).
      if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
        await page.evaluate(AXE);
      }
      const { passed, violations } = await page.evaluate(async () => {
        const result = await window.axe.run(document, {
          runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
        });
        return {
          passed: result.passes.map((p) => p.id),
          violations: result.violations
            .filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
        };
      });
      // The contrast rule must have looked at the page (axe ran, with its colour checks).
      assert.ok(passed.includes('color-contrast') || violations.some((v) => v.startsWith('color-contrast')),
        `${where}: axe did not check colour contrast`);
      for (const v of violations) problems.push(`${where}: ${v}`);
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({
        path: join(SHOTS, `${name}-${viewport.name}-${scheme}.png`),
        fullPage: true,
      });
    }
  }
  return problems;
}

async function pkceChallenge() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const verifier = Buffer.from(bytes).toString('base64url');
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return Buffer.from(digest).toString('base64url');
}

test('pages: accessible and without overflow in both colour schemes at both widths', async (t) => {
  const { browser } = await launchBrowser(t);
  const context = await browser.newContext({ bypassCSP: true });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems = [];
  const visit = async (path, name) => {
    await page.goto(`${LOGI}${path}`);
    problems.push(...(await walk(page, name)));
  };

  await visit('/signup', 'signup');
  await visit('/login', 'login');
  await visit('/no-such-page', 'error-not-found');
  await visit('/oauth/authorize?client_id=unknown&response_type=code', 'error-authorize');

  const app = await registerApp({
    client_name: 'Acme Notes',
    client_type: 'public',
    redirect_uris: ['http://127.0.0.1:9/callback'],
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    scope: 'openid profile email offline_access',
  });
  const query = new URLSearchParams({
    client_id: app.client_id,
    redirect_uri: app.redirect_uris[0],
    response_type: 'code',
    scope: 'openid profile email',
    state: 'pages-test',
    code_challenge: await pkceChallenge(),
    code_challenge_method: 'S256',
  });
  await page.goto(`${LOGI}/oauth/authorize?${query}`);
  await page.waitForURL(atLogi('/login'));
  assert.match(await page.locator('main').textContent(), /Sign in to continue to\s+Acme Notes/);
  problems.push(...(await walk(page, 'login-in-flow')));
  await signIn(page);
  await page.waitForSelector('button[name=decision][value=allow]');
  problems.push(...(await walk(page, 'consent')));

  await visit('/device', 'device');
  await visit('/developer', 'developer-console');
  await visit(`/developer/console/${app.id}`, 'developer-application');
  await visit(`/developer/console/${app.id}/delete`, 'developer-confirm-delete');
  await visit('/oauth/logout', 'logout');
  if ((await fetch(`${LOGI}/account`, { redirect: 'manual' })).status !== 404) {
    await visit('/account', 'account');
  }

  assert.deepEqual(problems, [], `accessibility or layout problems:\n${problems.join('\n')}`);
});
