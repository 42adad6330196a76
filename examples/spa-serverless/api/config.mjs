// GET /api/config: what the page needs to start a sign-in (nothing secret).
import { json, logi, redirectUri } from './_logi.mjs';

export default async function handler() {
  const config = await logi();
  return json({
    authorization_endpoint: config.serverMetadata().authorization_endpoint,
    issuer: config.serverMetadata().issuer,
    client_id: config.clientMetadata().client_id,
    redirect_uri: redirectUri(),
  });
}
