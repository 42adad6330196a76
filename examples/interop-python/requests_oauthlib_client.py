#!/usr/bin/env python3
"""requests-oauthlib against logi, set up the way its documentation describes ("Web
Application Flow", "Refreshing tokens"): a confidential web app with the authorization code flow
and PKCE (pkce="S256"), the token request with the client secret (HTTP Basic, the library's
default), userinfo, and two refreshes with client_id and client_secret in the body as the
documentation shows (logi rotates refresh tokens: each refresh must use the newest one).

    python requests_oauthlib_client.py

Configuration from the environment: LOGI_ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI.
oauthlib refuses plain http unless OAUTHLIB_INSECURE_TRANSPORT=1: set it only for a logi and a
redirect URI on your own machine (http://127.0.0.1:...), never in production.

The person's part happens in a browser: the script prints the authorization URL (on stderr,
line "authorize: <url>") and reads the URL the browser was redirected to from stdin. Progress
goes to stderr; stdout gets one JSON summary. Any failed check exits non-zero.
"""

import json
import os
import sys
from importlib.metadata import version
from urllib.parse import parse_qs, urlsplit

import requests
from oauthlib.common import generate_nonce
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

TIMEOUT = 10  # seconds, for every HTTP request
SCOPE = ["openid", "profile", "email", "offline_access"]


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


def record_client_auth(session, seen):
    """For the test only: notes which client authentication each token request carried on the
    wire (Basic header, or the secret in the body)."""

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


def main():
    issuer = env("LOGI_ISSUER")
    client_id = env("CLIENT_ID")
    client_secret = env("CLIENT_SECRET")

    response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT)
    response.raise_for_status()
    metadata = response.json()
    check(metadata["issuer"] == issuer, f"discovery names issuer {metadata['issuer']!r}")

    oauth = OAuth2Session(client_id, redirect_uri=env("REDIRECT_URI"), scope=SCOPE, pkce="S256")
    seen = []
    record_client_auth(oauth, seen)

    nonce = generate_nonce()
    authorization_url, state = oauth.authorization_url(metadata["authorization_endpoint"],
                                                       nonce=nonce)
    say("Open this URL in a browser, sign in and allow the application:")
    say(f"authorize: {authorization_url}")
    say("Then paste the address the browser was sent to (it starts with the redirect URI):")
    callback = sys.stdin.readline().strip()
    check(callback, "no callback URL on stdin")
    answer = parse_qs(urlsplit(callback).query)
    check("error" not in answer, f"authorization failed: {answer}")
    # RFC 9207: logi names itself in the response (authorization_response_iss_parameter_supported).
    check(answer.get("iss") == [issuer], f"no iss={issuer} in the callback {callback}")

    # state is checked by the library; the PKCE code_verifier is sent by it.
    token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=callback,
                              client_secret=client_secret, timeout=TIMEOUT)
    check(token["token_type"].lower() == "bearer", f"token_type {token['token_type']}")
    check(token.get("refresh_token"), "no refresh token for offline_access")
    check(token.get("id_token"), "no ID token for the openid scope")

    response = oauth.get(metadata["userinfo_endpoint"], timeout=TIMEOUT)
    response.raise_for_status()
    userinfo = response.json()
    say(f"signed in: sub {userinfo['sub']}")

    refresh_tokens = [token["refresh_token"]]
    access_tokens = [token["access_token"]]
    for _ in range(2):
        refreshed = oauth.refresh_token(metadata["token_endpoint"],
                                        refresh_token=refresh_tokens[-1],
                                        client_id=client_id, client_secret=client_secret,
                                        timeout=TIMEOUT)
        check(refreshed["refresh_token"] not in refresh_tokens, "refresh token was not rotated")
        check(refreshed["access_token"] not in access_tokens, "same access token after refresh")
        refresh_tokens.append(refreshed["refresh_token"])
        access_tokens.append(refreshed["access_token"])

    response = oauth.get(metadata["userinfo_endpoint"], timeout=TIMEOUT)  # newest access token
    response.raise_for_status()
    check(response.json()["sub"] == userinfo["sub"], "userinfo after refresh names another sub")

    print(json.dumps({
        "library": "requests-oauthlib",
        "version": version("requests-oauthlib"),
        "oauthlib": version("oauthlib"),
        "flow": "authorization_code",
        "pkce": "code_challenge_method=S256" in authorization_url,
        "sub": userinfo["sub"],
        "userinfo": {"sub": userinfo["sub"], "email": userinfo.get("email"),
                     "name": userinfo.get("name")},
        "refreshes": len(refresh_tokens) - 1,
        "refresh_tokens_distinct": len(set(refresh_tokens)) == len(refresh_tokens),
        "client_auth_seen": seen,
    }))


if __name__ == "__main__":
    try:
        main()
    except (CheckFailed, OAuth2Error, requests.HTTPError) as error:
        detail = ""
        if isinstance(error, requests.HTTPError) and error.response is not None:
            detail = f": {error.response.text[:300]}"
        say(f"FAILED: {type(error).__name__}: {error}{detail}")
        sys.exit(1)
