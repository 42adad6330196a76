// examples/resource-server: an API that validates logi's access tokens offline (RFC 9068) and
// their DPoP binding (RFC 9449). Tokens come from logi's client_credentials grant (oauth4webapi
// in Node, with and without DPoP); the proofs of the negative cases are made by hand with jose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { BIN, LOGI, freePort, registerApp, start } from './support/harness.mjs';

const http = { [oauth.allowInsecureRequests]: true };

async function developerToken() {
  const response = await fetch(`${LOGI}/developer/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: process.env.LOGI_USER_EMAIL,
      password: process.env.LOGI_USER_PASSWORD,
      name: 'resource server test',
    }),
  });
  return (await response.json()).token;
}

/** Registers the API with logi (SPEC "Protected APIs"): its identifier becomes the `aud` of the
 *  tokens issued for it (`resource`). */
async function apiAudience(identifier) {
  const response = await fetch(`${LOGI}/developer/apis`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await developerToken()}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'Notes API',
      identifier,
      scopes: [
        { name: 'notes:read', description: 'Read your notes' },
        { name: 'notes:write', description: 'Write your notes' },
      ],
    }),
  });
  assert.equal(response.status, 201, `POST /developer/apis: ${await response.text()}`);
  return { audience: identifier, resource: identifier };
}

const ath = (token) => createHash('sha256').update(token).digest('base64url');

async function proof(keyPair, claims) {
  return new jose.SignJWT({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(keyPair.publicKey) })
    .sign(keyPair.privateKey);
}

test('resource-server: offline validation of logi access tokens, DPoP included', async (t) => {
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const { audience, resource } = await apiAudience(api);
  const app = await registerApp({
    client_name: 'Notes sync job',
    client_type: 'confidential',
    redirect_uris: [],
    grant_types: ['client_credentials'],
    scope: 'notes:read notes:write',
  });
  const server = start(t, `${BIN}/logi-example-resource-server`, [], {
    env: {
      LOGI_ISSUER: LOGI,
      API_AUDIENCE: audience,
      REQUIRED_SCOPE: 'notes:read',
      BIND: `127.0.0.1:${port}`,
      PUBLIC_URL: api,
    },
  });
  await server.waitFor(/API listening/);

  const as = await oauth.processDiscoveryResponse(new URL(LOGI),
    await oauth.discoveryRequest(new URL(LOGI), http));
  const client = { client_id: app.client_id };
  const auth = oauth.ClientSecretBasic(app.client_secret);
  const key = await jose.generateKeyPair('ES256', { extractable: true });
  const dpop = oauth.DPoP(client, key);
  const grant = async (scope, options = {}) => {
    const params = { scope, ...(resource ? { resource } : {}) };
    const request = async () => oauth.processClientCredentialsResponse(as, client,
      await oauth.clientCredentialsGrantRequest(as, client, auth, params, { ...http, ...options }));
    try {
      return await request();
    } catch (e) {
      if (oauth.isDPoPNonceError(e)) return request();
      throw e;
    }
  };
  const call = (authorization, dpopProof) => fetch(`${api}/notes`, {
    headers: { authorization, ...(dpopProof ? { dpop: dpopProof } : {}) },
  });
  const refusal = async (response) => ({
    status: response.status,
    error: (await response.json()).error,
    challenge: response.headers.get('www-authenticate'),
  });

  // A DPoP-bound token with a proof from its key.
  const bound = await grant('notes:read', { DPoP: dpop });
  assert.equal(bound.token_type, 'dpop');
  const claims = jose.decodeJwt(bound.access_token);
  assert.equal(jose.decodeProtectedHeader(bound.access_token).typ, 'at+jwt');
  assert.equal(claims.aud, audience);
  const good = await proof(key, { htm: 'GET', htu: `${api}/notes`, ath: ath(bound.access_token) });
  let r = await call(`DPoP ${bound.access_token}`, good);
  assert.equal(r.status, 200, await r.clone().text());
  const body = await r.json();
  assert.equal(body.scheme, 'DPoP');
  assert.equal(body.client_id, app.client_id);

  // The same proof again: a replay.
  r = await call(`DPoP ${bound.access_token}`, good);
  assert.deepEqual((await refusal(r)).error, 'invalid_dpop_proof');
  // A bound token as a plain bearer token.
  r = await call(`Bearer ${bound.access_token}`);
  assert.equal((await refusal(r)).error, 'invalid_token');
  // A proof from another key (the thumbprint is not cnf.jkt).
  const other = await jose.generateKeyPair('ES256', { extractable: true });
  r = await call(`DPoP ${bound.access_token}`,
    await proof(other, { htm: 'GET', htu: `${api}/notes`, ath: ath(bound.access_token) }));
  assert.equal((await refusal(r)).error, 'invalid_token');
  // Proofs that name another request or another token, or none.
  for (const claims of [
    { htm: 'POST', htu: `${api}/notes`, ath: ath(bound.access_token) },
    { htm: 'GET', htu: `${api}/other`, ath: ath(bound.access_token) },
    { htm: 'GET', htu: `${api}/notes`, ath: ath('another token') },
    { htm: 'GET', htu: `${api}/notes` },
    { htm: 'GET', htu: `${api}/notes`, ath: ath(bound.access_token), iat: Math.floor(Date.now() / 1000) - 600 },
  ]) {
    r = await call(`DPoP ${bound.access_token}`, await proof(key, claims));
    const refused = await refusal(r);
    assert.equal(refused.status, 401, JSON.stringify(claims));
    assert.equal(refused.error, 'invalid_dpop_proof', JSON.stringify(claims));
    assert.match(refused.challenge, /^DPoP algs="[^"]+", error="invalid_dpop_proof"/);
  }

  // A plain bearer token (no DPoP at the token request) works as Bearer.
  const plain = await grant('notes:read');
  assert.equal(plain.token_type, 'bearer');
  r = await call(`Bearer ${plain.access_token}`);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).scheme, 'Bearer');

  // The wrong scope: 403 insufficient_scope, naming the scope needed.
  const writer = await grant('notes:write');
  r = await call(`Bearer ${writer.access_token}`);
  const refused = await refusal(r);
  assert.equal(refused.status, 403);
  assert.equal(refused.error, 'insufficient_scope');
  assert.match(refused.challenge, /scope="notes:read"/);

  // Not a logi access token: a tampered signature, another type, nothing at all.
  const [h, p, s] = plain.access_token.split('.');
  const tampered = `${h}.${p}.${s.startsWith('A') ? `B${s.slice(1)}` : `A${s.slice(1)}`}`;
  const idLike = await new jose.SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: 'k' })
    .sign(other.privateKey);
  for (const token of [tampered, idLike, 'not-a-jwt']) {
    r = await call(`Bearer ${token}`);
    assert.equal((await refusal(r)).error, 'invalid_token', token);
  }
  r = await fetch(`${api}/notes`);
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate'), /^DPoP algs="[^"]+", Bearer$/);

  // Another API (another audience) refuses the same token.
  const otherPort = await freePort();
  const otherApi = start(t, `${BIN}/logi-example-resource-server`, [], {
    env: {
      LOGI_ISSUER: LOGI,
      API_AUDIENCE: `http://127.0.0.1:${otherPort}`,
      BIND: `127.0.0.1:${otherPort}`,
    },
  });
  await otherApi.waitFor(/API listening/);
  r = await fetch(`http://127.0.0.1:${otherPort}/notes`, { headers: { authorization: `Bearer ${plain.access_token}` } });
  assert.equal((await refusal(r)).error, 'invalid_token');
});
