// POST /api/exchange {query, code_verifier, state, nonce}: the page hands over logi's answer and
// the PKCE verifier it kept; this function redeems the code with the client secret, checks the
// ID token, and gives the browser the app's own session cookie. logi's tokens stay here.
import * as client from 'openid-client';
import { isJsonPost, json, logi, redirectUri, sessionCookie } from './_logi.mjs';

export default async function handler(request) {
  if (!isJsonPost(request)) return json({ error: 'invalid_request' }, 400);
  const { query, code_verifier, state, nonce } = await request.json();
  if (![query, code_verifier, state, nonce].every((v) => typeof v === 'string')) {
    return json({ error: 'invalid_request' }, 400);
  }
  const config = await logi();
  // The redirect URI comes from our configuration, never from the browser.
  const callback = new URL(redirectUri());
  callback.search = query;
  try {
    // Checks state and iss (RFC 9207), sends code + verifier with HTTP Basic client
    // authentication, and validates the ID token (iss, aud, exp, nonce).
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: code_verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const { sub } = tokens.claims();
    const info = await client.fetchUserInfo(config, tokens.access_token, sub);
    const user = { sub, email: info.email, name: info.name };
    return json({ user }, 200, { 'set-cookie': await sessionCookie(user) });
  } catch (e) {
    console.error('code exchange failed:', e);
    return json({ error: e.error ?? 'exchange_failed', error_description: e.error_description ?? e.message }, 400);
  }
}
