// POST /api/logout: forgets the app session and returns the URL that ends the logi session
// too (RP-initiated logout; logi asks the user to confirm, since no ID token is kept here).
import * as client from 'openid-client';
import { appUrl, clearedCookie, isJsonPost, json, logi } from './_logi.mjs';

export default async function handler(request) {
  if (!isJsonPost(request)) return json({ error: 'invalid_request' }, 400);
  const url = client.buildEndSessionUrl(await logi(), { post_logout_redirect_uri: `${appUrl()}/` });
  return json({ logout_url: url.href }, 200, { 'set-cookie': clearedCookie() });
}
