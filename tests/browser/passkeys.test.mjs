// Passkeys in headless Chromium against a running logi (LOGI_URL, started by run.sh), with a
// CDP virtual authenticator (WebAuthn.addVirtualAuthenticator: CTAP2, resident keys, user
// verification): registration from the account page, passwordless sign-in from the login
// page, and a passkey as the second step after the password. Also: no page loads a script
// the CSP refuses, and the login page works without JavaScript.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { chromium } from "playwright-core";

const base = process.env.LOGI_URL;
assert.ok(base, "LOGI_URL is set by run.sh");
const PASSWORD = "correct horse battery staple";
const email = `passkey-${Date.now()}@example.com`;

let browser;
let context;
let page;
const cspViolations = [];
/** A public client registered by another account (`client_id`), used to read ID tokens. */
let client;
const REDIRECT_URI = "http://127.0.0.1:9/cb";

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // logi listens on 127.0.0.1; the issuer says localhost (a WebAuthn-capable origin).
      "--host-resolver-rules=MAP localhost 127.0.0.1",
    ],
  });
  context = await browser.newContext();
  page = await context.newPage();
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) {
      cspViolations.push(message.text());
    }
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  client = await registerClient();
});

/** A developer (another account, in its own browser context) registers a public client. */
async function registerClient() {
  const dev = await browser.newContext();
  const devPage = await dev.newPage();
  const devEmail = `dev-${Date.now()}@example.com`;
  await devPage.goto(`${base}/signup`);
  await devPage.fill("#email", devEmail);
  await devPage.fill("#password", PASSWORD);
  await Promise.all([devPage.waitForURL(`${base}/`), devPage.click("button[type=submit]")]);
  const minted = await dev.request.post(`${base}/developer/tokens`, {
    data: { email: devEmail, password: PASSWORD, name: "browser tests" },
  });
  assert.equal(minted.status(), 201);
  const { token } = await minted.json();
  const created = await dev.request.post(`${base}/developer/applications`, {
    headers: { authorization: `Bearer ${token}` },
    data: {
      client_name: "Browser test",
      client_type: "public",
      redirect_uris: [REDIRECT_URI],
      grant_types: ["authorization_code"],
      scope: "openid",
    },
  });
  assert.equal(created.status(), 201);
  return { context: dev, client_id: (await created.json()).client_id };
}

/** authorize → consent → code → token in the signed-in page; the ID token's claims. */
async function idTokenClaims() {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const query = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: REDIRECT_URI,
    response_type: "code",
    scope: "openid",
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "st",
  });
  // The client's redirect URI is not served: the browser's request to it is answered here.
  await page.route(`${REDIRECT_URI}**`, (route) => route.fulfill({ status: 200, body: "done" }));
  const redirected = page.waitForRequest((r) => r.url().startsWith(REDIRECT_URI));
  await page.goto(`${base}/oauth/authorize?${query}`);
  // A public client with a loopback redirect asks for consent every time.
  await page.click("button[name='decision'][value='allow']");
  const code = new URL((await redirected).url()).searchParams.get("code");
  await page.unroute(`${REDIRECT_URI}**`);
  const answer = await client.context.request.post(`${base}/oauth/token`, {
    form: {
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      client_id: client.client_id,
    },
  });
  assert.equal(answer.status(), 200, await answer.text());
  const { id_token } = await answer.json();
  return JSON.parse(Buffer.from(id_token.split(".")[1], "base64url").toString());
}

after(async () => {
  await browser?.close();
});

async function sessionCookie() {
  const cookies = await context.cookies(base);
  return cookies.find((c) => c.name === "logi_session");
}

async function signOut() {
  await page.goto(`${base}/`);
  await Promise.all([
    page.waitForURL(`${base}/?signed_out=1`),
    page.click("form[action='/logout'] button"),
  ]);
  assert.equal(await sessionCookie(), undefined);
}

test("a passkey is registered from the account page", async () => {
  await page.goto(`${base}/signup`);
  await page.fill("#email", email);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);

  await page.goto(`${base}/account`);
  const add = page.locator("[data-action='add-passkey']");
  await add.waitFor({ state: "visible" });
  await page.fill("#passkey_name", "Virtual key");
  await Promise.all([
    page.waitForURL(`${base}/account`, { waitUntil: "load" }),
    add.click(),
  ]);
  await page.locator("tr[data-passkey]").first().waitFor();
  const rows = await page.locator("tr[data-passkey]").allTextContents();
  assert.equal(rows.length, 1, rows.join("\n"));
  assert.match(rows[0], /Virtual key/);
});

test("the passkey signs in without a password", async () => {
  await signOut();
  await page.goto(`${base}/login`);
  const button = page.locator("[data-action='passkey-login']");
  await button.waitFor({ state: "visible" });
  await Promise.all([page.waitForURL(`${base}/`), button.click()]);
  assert.ok(await sessionCookie(), "signed in");
  assert.match(await page.textContent("body"), new RegExp(email.replace(/[.+]/g, "\\$&")));
  // A user-verified passkey is two factors by itself; the virtual key is device-bound.
  const claims = await idTokenClaims();
  assert.deepEqual(claims.amr, ["hwk", "mfa"]);
  assert.equal(claims.acr, "urn:logi:acr:mfa");
});

test("with a passkey enrolled, the password leads to the passkey as second step", async () => {
  await signOut();
  await page.goto(`${base}/login`);
  await page.fill("#email", email);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(`${base}/login/mfa`), page.click("form[action='/login'] button[type=submit]")]);
  assert.equal(await sessionCookie(), undefined, "no session before the second step");
  // Only a passkey is enrolled: no code form.
  assert.equal(await page.locator("input[name='code']").count(), 0);
  const button = page.locator("[data-action='passkey-mfa']");
  await button.waitFor({ state: "visible" });
  await Promise.all([page.waitForURL(`${base}/`), button.click()]);
  assert.ok(await sessionCookie(), "signed in after the second step");
  const claims = await idTokenClaims();
  assert.deepEqual(claims.amr, ["pwd", "hwk", "mfa"]);
  assert.equal(claims.acr, "urn:logi:acr:mfa");
  // The account page lists the passkey as used.
  await page.goto(`${base}/account`);
  assert.match(await page.textContent("tr[data-passkey]"), /UTC.*\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/s,
    "added and last used",);
});

test("no page needed a script or resource the CSP refuses", () => {
  assert.deepEqual(cspViolations, []);
});

test("without JavaScript the login page works and shows no passkey button", async () => {
  const noJs = await browser.newContext({ javaScriptEnabled: false });
  const plain = await noJs.newPage();
  await plain.goto(`${base}/login`);
  assert.equal(await plain.locator("[data-action='passkey-login']").isVisible(), false);
  const other = `nojs-${Date.now()}@example.com`;
  await plain.goto(`${base}/signup`);
  await plain.fill("#email", other);
  await plain.fill("#password", PASSWORD);
  await Promise.all([plain.waitForURL(`${base}/`), plain.click("button[type=submit]")]);
  const home = await plain.textContent("body");
  assert.match(home, /Signed in/);
  await noJs.close();
});
