#!/usr/bin/env python3
"""A real third-party OAuth 2.0 client against a live cdp-auth: Authlib's OAuth2Session.

Usage: authlib_client.py BASE_URL USERNAME PASSWORD

With an instance's username and password as the OAuth client, for each of
client_secret_basic and client_secret_post: fetch a client_credentials token (RFC 6749
§4.4), introspect it (RFC 7662, active), revoke it (RFC 7009), introspect again (inactive).
Also checks that a wrong secret surfaces as Authlib's OAuthError `invalid_client`.

Prints one line per step; exits 0 when everything held, 1 with a message otherwise.
Needs: pip install authlib requests
"""

import os
import sys

# The server under test listens on plain HTTP on loopback.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

from authlib.integrations.base_client.errors import OAuthError  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402

TIMEOUT = 10


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def session(username, password, method):
    return OAuth2Session(
        client_id=username,
        client_secret=password,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        default_timeout=TIMEOUT,
    )


def introspect(client, base, token):
    response = client.introspect_token(
        f"{base}/oauth/introspect", token=token, token_type_hint="access_token"
    )
    check(
        response.status_code == 200,
        f"introspect: HTTP {response.status_code} {response.text}",
    )
    return response.json()


def round_trip(base, username, password, method):
    client = session(username, password, method)
    token = client.fetch_token(f"{base}/oauth/token", grant_type="client_credentials")
    access_token = token.get("access_token")
    check(
        isinstance(access_token, str) and access_token,
        f"{method}: no access_token in {dict(token)}",
    )
    check(
        str(token.get("token_type", "")).lower() == "bearer",
        f"{method}: token_type {token.get('token_type')!r}",
    )
    check(
        isinstance(token.get("expires_in"), int) and token["expires_in"] > 0,
        f"{method}: expires_in {token.get('expires_in')!r}",
    )
    check(
        token.get("scope") in ("dw:tracker", "dw:a360", "dw:webtag"),
        f"{method}: scope {token.get('scope')!r}",
    )
    check(
        token.get("expires_at") is not None,
        f"{method}: Authlib could not compute expires_at from {dict(token)}",
    )
    print(f"{method}: fetch_token ok (scope {token['scope']}, expires_in {token['expires_in']})")

    found = introspect(client, base, access_token)
    check(found.get("active") is True, f"{method}: not active after issue: {found}")
    check(found.get("username") == username, f"{method}: username in {found}")
    check(found.get("client_id") == username, f"{method}: client_id in {found}")
    check(found.get("scope") == token["scope"], f"{method}: scope in {found}")
    for claim in ("exp", "iat"):
        check(isinstance(found.get(claim), int), f"{method}: {claim} in {found}")
    print(f"{method}: introspect_token ok (active)")

    revoked = client.revoke_token(
        f"{base}/oauth/revoke", token=access_token, token_type_hint="access_token"
    )
    check(
        revoked.status_code == 200,
        f"{method}: revoke: HTTP {revoked.status_code} {revoked.text}",
    )
    print(f"{method}: revoke_token ok")

    found = introspect(client, base, access_token)
    check(found == {"active": False}, f"{method}: after revoke: {found}")
    print(f"{method}: introspect_token ok (inactive after revoke)")

    # Revoking again, now an unknown token to the server, is still 200 (RFC 7009 §2.2).
    again = client.revoke_token(f"{base}/oauth/revoke", token=access_token)
    check(again.status_code == 200, f"{method}: second revoke: HTTP {again.status_code}")


def wrong_secret(base, username):
    client = session(username, "wrong-" + "x" * 18, "client_secret_basic")
    try:
        client.fetch_token(f"{base}/oauth/token", grant_type="client_credentials")
    except OAuthError as error:
        check(error.error == "invalid_client", f"wrong secret: error {error.error!r}")
        print("wrong secret: OAuthError invalid_client ok")
        return
    raise Failure("wrong secret: fetch_token succeeded")


def main(argv):
    args = argv[1:]
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    base, username, password = args
    base = base.rstrip("/")
    try:
        for method in ("client_secret_basic", "client_secret_post"):
            round_trip(base, username, password, method)
        wrong_secret(base, username)
    except Failure as failure:
        print(f"authlib_client: FAILED: {failure}", file=sys.stderr)
        return 1
    except OAuthError as error:
        print(
            f"authlib_client: FAILED: OAuthError {error.error}: {error.description}",
            file=sys.stderr,
        )
        return 1
    except Exception as error:  # anything else Authlib or requests raised
        print(f"authlib_client: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print("authlib_client: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
