"""A service of your own that accepts cdp-auth JWT access tokens, checked offline with PyJWT
against the published keys: python3 jwt_resource_server.py ISSUER AUDIENCE [PORT]
(pip install "pyjwt[crypto]"). The key set is cached for JWKS_CACHE_SECONDS (default 300, the
server's max-age); cdp-auth publishes each new key longer ahead than that."""
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt

ISSUER, AUDIENCE = sys.argv[1], sys.argv[2]
KEYS = jwt.PyJWKClient(f"{ISSUER}/.well-known/jwks.json",
                       lifespan=float(os.environ.get("JWKS_CACHE_SECONDS", "300")))


class Api(BaseHTTPRequestHandler):
    def do_GET(self):
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            if jwt.get_unverified_header(token).get("typ") != "at+jwt":
                raise jwt.InvalidTokenError("not an access token")
            claims = jwt.decode(token, KEYS.get_signing_key_from_jwt(token).key,
                                algorithms=["ES256", "EdDSA"], issuer=ISSUER, audience=AUDIENCE,
                                options={"require": ["exp", "iat", "nbf", "sub", "jti"]})
            status, body = 200, f"hello {claims['sub']} of tenant {claims['tenant_id']} ({claims['scope']})"
        except jwt.PyJWTError as error:
            status, body = 401, f"invalid token: {error}"
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())


server = HTTPServer(("127.0.0.1", int(sys.argv[3]) if len(sys.argv) > 3 else 8000), Api)
print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
server.serve_forever()
