// What every end-to-end test shares: the logi that run-tests.sh started (LOGI_URL) and its
// user, the developer API, free ports, child processes that stop with their test, headless
// Chromium (Debian's, through playwright-core), and the person who signs in and consents.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through examples/run-tests.sh`);
  return value;
};

export const EXAMPLES = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
export const LOGI = need('LOGI_URL');
export const USER = { email: need('LOGI_USER_EMAIL'), password: need('LOGI_USER_PASSWORD') };
/** Where cargo put the Rust examples' binaries. */
export const BIN = need('EXAMPLES_BIN_DIR');
const RESULTS = join(EXAMPLES, 'test-results');
const SCREENSHOTS = join(RESULTS, 'screenshots');

let developerToken;
/** A developer token for the user (minted once per test file, over the developer API). */
function mintDeveloperToken() {
  developerToken ??= (async () => {
    const response = await fetch(`${LOGI}/developer/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...USER, name: 'examples end-to-end tests' }),
    });
    assert.equal(response.status, 201, `POST /developer/tokens: ${await response.clone().text()}`);
    return (await response.json()).token;
  })();
  return developerToken;
}

/** Registers an application as the examples' READMEs say; returns logi's answer (with the
 *  `client_secret`, shown once, for a confidential one). */
export async function registerApp(metadata) {
  const response = await fetch(`${LOGI}/developer/applications`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await mintDeveloperToken()}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify(metadata),
  });
  const body = await response.json();
  assert.equal(response.status, 201, `register ${metadata.client_name}: ${JSON.stringify(body)}`);
  return body;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'logi-example-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Starts a program; it is killed when the test ends. `waitFor(regex)` resolves with the match
 * once the output shows it; `exited` resolves with the exit code.
 */
export function start(t, command, args, { env = {}, cwd } = {}) {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const watchers = new Set();
  const onData = (chunk) => {
    output += chunk;
    for (const w of watchers) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGTERM');
    return Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  });
  const name = command.split('/').pop();
  return {
    exited,
    output: () => output,
    waitFor(pattern, timeout = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = output.match(pattern);
          if (match) {
            watchers.delete(check);
            clearTimeout(timer);
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`${name}: no ${pattern} within ${timeout} ms; output:\n${output}`));
        }, timeout);
        watchers.add(check);
        exited.then((code) => {
          setTimeout(() => {
            if (watchers.has(check)) {
              watchers.delete(check);
              clearTimeout(timer);
              reject(new Error(`${name} exited (${code}) without ${pattern}; output:\n${output}`));
            }
          }, 100);
        });
        check();
      });
    },
  };
}

/** Debian's Chromium, headless, in a fresh profile (playwright makes a new one per launch). */
export async function launchBrowser(t) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox', // CI runs as root
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.after(() => browser.close());
  const context = await browser.newContext();
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  const page = await context.newPage();
  const log = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`page error: ${e.message}`));
  t.after(() => {
    mkdirSync(RESULTS, { recursive: true });
    const file = join(RESULTS, `${t.name.split(':')[0]}.browser.log`);
    writeFileSync(file, log.join('\n') + '\n');
  });
  return { browser, context, page };
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Waits until the element's text matches (a string is matched exactly). */
export async function expectText(page, selector, expected, timeout = 15_000) {
  const matches = (text) => (expected instanceof RegExp ? expected.test(text) : text === expected);
  const deadline = Date.now() + timeout;
  let text;
  while (Date.now() < deadline) {
    text = (await page.locator(selector).textContent().catch(() => null))?.trim() ?? '';
    if (matches(text)) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  const error = (await page.locator('#error').textContent().catch(() => ''))?.trim();
  assert.fail(`${selector} shows "${text}", expected ${expected}` +
    `${error ? ` (the page's error: ${error})` : ''} at ${page.url()}`);
}

export const text = async (page, selector) => (await page.locator(selector).textContent())?.trim();

export const atLogi = (path) => (url) => url.href.startsWith(`${LOGI}${path}`);

/** The person at logi's pages: signs in with email and password (SPEC "HTML pages"). */
export async function signIn(page) {
  await page.waitForURL(atLogi('/login'));
  await page.fill('input[name=email]', USER.email);
  await page.fill('input[name=password]', USER.password);
  await Promise.all([page.waitForURL((u) => !atLogi('/login')(u)), page.click('button[type=submit]')]);
}

/** …and allows the application on the consent page. */
export async function allow(page) {
  await page.click('button[name=decision][value=allow]');
}

/** Registers a protected API over the developer API (SPEC "Protected APIs"); its `identifier`
 *  becomes the `aud` of the access tokens issued for its scopes. Returns logi's answer. */
export async function registerApi(api) {
  const response = await fetch(`${LOGI}/developer/apis`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await mintDeveloperToken()}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify(api),
  });
  const body = await response.json();
  assert.equal(response.status, 201, `register API ${api.name}: ${JSON.stringify(body)}`);
  return body;
}
