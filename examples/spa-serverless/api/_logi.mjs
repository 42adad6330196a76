// Shared by the functions (a leading underscore keeps Vercel and Netlify from routing it):
// logi's configuration for this confidential client, from the function's environment, and
// the app's own session cookie.
//
// Environment: LOGI_ISSUER, CLIENT_ID, CLIENT_SECRET (the secret lives here, never in the
// browser bundle), APP_URL (where the page is served, e.g. https://app.example.com),
// SESSION_SECRET (32+ random bytes, base64; signs the app's session cookie).
import * as client from 'openid-client';
import * as jose from 'jose';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
}

export const appUrl = () => env('APP_URL').replace(/\/$/, '');
/** The page that handles logi's answer: the app's root. */
export const redirectUri = () => `${appUrl()}/`;

let discovered; // reused while the function instance stays warm

/** openid-client's view of logi, discovered once per function instance. */
export function logi() {
  discovered ??= (async () => {
    const issuer = new URL(env('LOGI_ISSUER'));
    // A logi on plain http (local development, tests) must be allowed explicitly.
    const options = issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {};
    return client.discovery(issuer, env('CLIENT_ID'), undefined,
      client.ClientSecretBasic(env('CLIENT_SECRET')), options);
  })().catch((e) => { discovered = undefined; throw e; });
  return discovered;
}

const COOKIE = 'session';
const secret = () => Buffer.from(env('SESSION_SECRET'), 'base64');
const secure = () => appUrl().startsWith('https:');

/** The app's own session: a signed JWT naming the user, in an HttpOnly cookie. No logi token. */
export async function sessionCookie(user) {
  const jwt = await new jose.SignJWT(user)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('8h')
    .sign(secret());
  return `${COOKIE}=${jwt}; Path=/api; Max-Age=28800; HttpOnly; SameSite=Lax${secure() ? '; Secure' : ''}`;
}

export const clearedCookie = () => `${COOKIE}=; Path=/api; Max-Age=0; HttpOnly; SameSite=Lax${secure() ? '; Secure' : ''}`;

/** The user of the request's session cookie, or null. */
export async function sessionUser(request) {
  const cookie = (request.headers.get('cookie') ?? '')
    .split(';').map((c) => c.trim().split('=')).find(([name]) => name === COOKIE);
  if (!cookie?.[1]) return null;
  try {
    const { payload } = await jose.jwtVerify(cookie[1], secret(), { algorithms: ['HS256'] });
    return { sub: payload.sub, email: payload.email, name: payload.name };
  } catch {
    return null;
  }
}

export function json(body, status = 200, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  });
}

/** State-changing calls come from the page's own `fetch` with a JSON body: a cross-site form
 *  cannot send that content type, and a cross-site script would need a preflight nobody grants. */
export function isJsonPost(request) {
  return request.method === 'POST'
    && (request.headers.get('content-type') ?? '').startsWith('application/json');
}
