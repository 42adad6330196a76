// GET /api/me: the signed-in user of this browser, from the app's session cookie.
import { json, sessionUser } from './_logi.mjs';

export default async function handler(request) {
  const user = await sessionUser(request);
  return user ? json({ user }) : json({ error: 'not signed in' }, 401);
}
