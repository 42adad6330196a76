#!/usr/bin/env python3
"""Authlib (requests client) against logi, set up the way Authlib's documentation describes.

    python authlib_client.py code [--auth client_secret_basic|client_secret_post]
        A confidential web app: discovery, the authorization code flow with PKCE (S256) and a
        nonce, the ID token checked against logi's JWKS, userinfo, two refreshes (logi rotates
        refresh tokens: each refresh must use the one the previous answer returned),
        introspection and revocation.
    python authlib_client.py client-credentials
        A machine client: client_credentials for an API's scope; the access token is checked
        as an RFC 9068 JWT against logi's JWKS, then introspected.

Configuration from the environment: LOGI_ISSUER; CLIENT_ID, CLIENT_SECRET, REDIRECT_URI (code);
CC_CLIENT_ID, CC_CLIENT_SECRET, CC_SCOPE, API_AUDIENCE (client-credentials).

The person's part happens in a browser: the script prints the authorization URL (on stderr,
line "authorize: <url>") and reads the URL the browser was redirected to from stdin. Progress
goes to stderr; stdout gets one JSON summary. Any failed check exits non-zero.
"""

import argparse
import json
import os
import sys
from urllib.parse import parse_qs, urlsplit

import authlib
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.errors import InvalidClaimError, JoseError
from joserfc.jwk import KeySet

TIMEOUT = 10  # seconds, for every HTTP request
SCOPE = "openid profile email offline_access"


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def say(message):
    print(message, file=sys.stderr, flush=True)


def env(name):
    value = os.environ.get(name)
    check(value, f"{name} is not set")
    return value


def discover(issuer):
    """OpenID Connect Discovery: the metadata must name exactly the issuer we asked."""
    response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT)
    response.raise_for_status()
    metadata = OpenIDProviderMetadata(response.json())
    metadata.validate()
    check(metadata["issuer"] == issuer, f"discovery names issuer {metadata['issuer']!r}")
    return metadata


def fetch_keys(metadata):
    response = requests.get(metadata["jwks_uri"], timeout=TIMEOUT)
    response.raise_for_status()
    return KeySet.import_key_set(response.json())


def record_client_auth(session, seen):
    """For the test only: notes which client authentication each token, revocation and
    introspection request carried on the wire (Basic header, or the secret in the body)."""

    def hook(response, *args, **kwargs):
        request = response.request
        if request.method != "POST":
            return response
        body = request.body or ""
        if isinstance(body, bytes):
            body = body.decode()
        form = parse_qs(body)
        basic = request.headers.get("Authorization", "").startswith("Basic ")
        post = "client_secret" in form
        method = {(True, False): "client_secret_basic", (False, True): "client_secret_post"}.get(
            (basic, post), f"basic={basic} post={post}"
        )
        seen.append({"path": urlsplit(request.url).path,
                     "grant_type": form.get("grant_type", [None])[0], "client_auth": method})
        return response

    session.hooks["response"].append(hook)


def ask_for_callback(url):
    say("Open this URL in a browser, sign in and allow the application:")
    say(f"authorize: {url}")
    say("Then paste the address the browser was sent to (it starts with the redirect URI):")
    line = sys.stdin.readline().strip()
    check(line, "no callback URL on stdin")
    return line


def validate_id_token(id_token, metadata, keys, client_id, nonce, access_token):
    """The ID token's signature against logi's JWKS, then its claims with Authlib's OpenID
    Connect rules: iss, aud, exp, iat, nonce, azp and at_hash."""
    token = jwt.decode(id_token, keys, algorithms=metadata["id_token_signing_alg_values_supported"])
    options = {
        "iss": {"essential": True, "value": metadata["issuer"]},
        "aud": {"essential": True, "value": client_id},
        "exp": {"essential": True},
    }
    params = {"client_id": client_id, "access_token": access_token}
    if nonce is not None:
        params["nonce"] = nonce
        options["nonce"] = {"essential": True}
    claims = CodeIDToken(token.claims, token.header, options, params)
    claims.validate(leeway=30)
    if nonce is not None:
        # The same checks must refuse a token that was not minted for this request.
        forged = CodeIDToken(token.claims, token.header, dict(options), {**params, "nonce": "x"})
        try:
            forged.validate(leeway=30)
            raise CheckFailed("an ID token with another nonce was accepted")
        except InvalidClaimError:
            pass
    return claims


def code_flow(auth_method):
    issuer = env("LOGI_ISSUER")
    client_id = env("CLIENT_ID")
    metadata = discover(issuer)
    check(auth_method in metadata["token_endpoint_auth_methods_supported"],
          f"{auth_method} is not in token_endpoint_auth_methods_supported")
    check("S256" in metadata.get("code_challenge_methods_supported", []), "no S256 PKCE")
    keys = fetch_keys(metadata)

    client = OAuth2Session(
        client_id,
        env("CLIENT_SECRET"),
        scope=SCOPE,
        redirect_uri=env("REDIRECT_URI"),
        token_endpoint_auth_method=auth_method,
        revocation_endpoint_auth_method=auth_method,
        code_challenge_method="S256",
        default_timeout=TIMEOUT,
    )
    seen = []
    record_client_auth(client, seen)

    code_verifier = generate_token(48)
    nonce = generate_token(20)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce
    )
    callback = ask_for_callback(url)
    answer = parse_qs(urlsplit(callback).query)
    check("error" not in answer, f"authorization failed: {answer}")
    # RFC 9207: logi names itself in the response (authorization_response_iss_parameter_supported).
    check(answer.get("iss") == [issuer], f"no iss={issuer} in the callback {callback}")

    token = client.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        state=state,
        code_verifier=code_verifier,
    )
    check(token["token_type"].lower() == "bearer", f"token_type {token['token_type']}")
    check(set(SCOPE.split()) <= set(token.get("scope", "").split()), f"scope {token.get('scope')}")
    check(token.get("refresh_token"), "no refresh token for offline_access")
    claims = validate_id_token(token["id_token"], metadata, keys, client_id, nonce,
                               token["access_token"])
    say(f"signed in: sub {claims['sub']}")

    response = client.get(metadata["userinfo_endpoint"])
    response.raise_for_status()
    userinfo = response.json()
    check(userinfo["sub"] == claims["sub"], "userinfo sub differs from the ID token's")

    # Two refreshes: the second must use the refresh token the first one returned.
    refresh_tokens = [token["refresh_token"]]
    access_tokens = [token["access_token"]]
    for _ in range(2):
        refreshed = client.refresh_token(metadata["token_endpoint"],
                                         refresh_token=refresh_tokens[-1])
        check(refreshed["refresh_token"] not in refresh_tokens, "refresh token was not rotated")
        check(refreshed["access_token"] not in access_tokens, "same access token after refresh")
        if "id_token" in refreshed:
            again = validate_id_token(refreshed["id_token"], metadata, keys, client_id, None,
                                      refreshed["access_token"])
            check(again["sub"] == claims["sub"], "refreshed ID token names another sub")
        refresh_tokens.append(refreshed["refresh_token"])
        access_tokens.append(refreshed["access_token"])
    response = client.get(metadata["userinfo_endpoint"])  # with the newest access token
    response.raise_for_status()
    check(response.json()["sub"] == claims["sub"], "userinfo after refresh names another sub")

    response = client.introspect_token(metadata["introspection_endpoint"],
                                       token=access_tokens[-1], token_type_hint="access_token")
    response.raise_for_status()
    active = response.json()
    check(active.get("active") is True, f"introspection: {active}")
    check(active.get("client_id") == client_id, f"introspection client_id: {active}")

    response = client.revoke_token(metadata["revocation_endpoint"], token=refresh_tokens[-1],
                                   token_type_hint="refresh_token")
    check(response.status_code == 200, f"revocation answered {response.status_code}")
    response = client.introspect_token(metadata["introspection_endpoint"],
                                       token=access_tokens[-1], token_type_hint="access_token")
    response.raise_for_status()
    after_revocation = response.json()
    response = client.get(metadata["userinfo_endpoint"])
    userinfo_after = response.status_code
    try:
        client.refresh_token(metadata["token_endpoint"], refresh_token=refresh_tokens[-1])
        refresh_after = "accepted"
    except OAuthError as error:
        refresh_after = error.error

    return {
        "library": "authlib",
        "version": authlib.__version__,
        "flow": "authorization_code",
        "auth_method": auth_method,
        "sub": claims["sub"],
        "id_token": {"alg": claims.header["alg"], "iss": claims["iss"], "aud": claims["aud"],
                     "nonce_matches": claims["nonce"] == nonce,
                     "at_hash_checked": "at_hash" in claims},
        "userinfo": {"sub": userinfo["sub"], "email": userinfo.get("email"),
                     "name": userinfo.get("name")},
        "refreshes": len(refresh_tokens) - 1,
        "refresh_tokens_distinct": len(set(refresh_tokens)) == len(refresh_tokens),
        "introspection": {"active": active["active"], "client_id": active["client_id"]},
        "after_revocation": {"introspection": after_revocation,
                             "userinfo_status": userinfo_after, "refresh": refresh_after},
        "client_auth_seen": seen,
    }


def client_credentials():
    issuer = env("LOGI_ISSUER")
    client_id = env("CC_CLIENT_ID")
    audience = env("API_AUDIENCE")
    scope = env("CC_SCOPE")
    metadata = discover(issuer)
    check("client_credentials" in metadata["grant_types_supported"], "no client_credentials")
    keys = fetch_keys(metadata)

    client = OAuth2Session(client_id, env("CC_CLIENT_SECRET"), scope=scope,
                           default_timeout=TIMEOUT)
    seen = []
    record_client_auth(client, seen)
    token = client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    check(token["token_type"].lower() == "bearer", f"token_type {token['token_type']}")

    # What the API does with it (RFC 9068): signature against the JWKS, typ, iss, aud, exp.
    decoded = jwt.decode(token["access_token"], keys)
    claims = JWTAccessTokenClaims(decoded.claims, decoded.header, {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": audience},
        "exp": {"essential": True},
        "client_id": {"essential": True, "value": client_id},
        "scope": {"essential": True},
    })
    claims.validate(leeway=30)
    check(decoded.header.get("typ", "").lower() in ("at+jwt", "application/at+jwt"),
          f"access token typ {decoded.header.get('typ')}")
    check(set(scope.split()) <= set(claims["scope"].split()), f"scope {claims['scope']}")

    response = client.introspect_token(metadata["introspection_endpoint"],
                                       token=token["access_token"])
    response.raise_for_status()
    active = response.json()
    check(active.get("active") is True, f"introspection: {active}")

    return {
        "library": "authlib",
        "version": authlib.__version__,
        "flow": "client_credentials",
        "access_token": {"typ": decoded.header.get("typ"), "alg": decoded.header["alg"],
                         "aud": claims["aud"], "client_id": claims["client_id"],
                         "scope": claims["scope"], "sub": claims.get("sub")},
        "refresh_token_issued": "refresh_token" in token,
        "introspection": {"active": active["active"], "client_id": active.get("client_id")},
        "client_auth_seen": seen,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    code = sub.add_parser("code", help="authorization code flow of a confidential web app")
    code.add_argument("--auth", default="client_secret_basic",
                      choices=["client_secret_basic", "client_secret_post"])
    sub.add_parser("client-credentials", help="client_credentials grant of a machine client")
    args = parser.parse_args()
    try:
        summary = code_flow(args.auth) if args.command == "code" else client_credentials()
    except (CheckFailed, OAuthError, JoseError, requests.HTTPError) as error:
        detail = ""
        if isinstance(error, requests.HTTPError) and error.response is not None:
            detail = f": {error.response.text[:300]}"
        say(f"FAILED: {type(error).__name__}: {error}{detail}")
        sys.exit(1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
