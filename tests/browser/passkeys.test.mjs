// Passkeys in headless Chromium against a running logi (LOGI_URL, started by run.sh), with a
// CDP virtual authenticator (WebAuthn.addVirtualAuthenticator: CTAP2, resident keys, user
// verification): registration from the account page, passwordless sign-in from the login
// page, and a passkey as the second step after the password. Also: no page loads a script
// the CSP refuses, and the login page works without JavaScript.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const base = process.env.LOGI_URL;
assert.ok(base, "LOGI_URL is set by run.sh");
const PASSWORD = "correct horse battery staple";
const email = `passkey-${Date.now()}@example.com`;

let browser;
let context;
let page;
const cspViolations = [];

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
});

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
  // The account page lists the passkey as used.
  await page.goto(`${base}/account`);
  assert.match(await page.textContent("tr[data-passkey]"), /used/);
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
