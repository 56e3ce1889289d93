"""A DPoP client (RFC 9449) for cdp-auth, with PyJWT: a key of its own, a token bound to it,
and a fresh proof with every call. A stolen copy of the token is useless without the key.

    pip install 'pyjwt[crypto]' requests
    AUTH=http://127.0.0.1:8080 CLIENT_ID=… CLIENT_SECRET=… TENANT_ID=… python3 dpop_client.py
"""

import base64, hashlib, os, time, uuid

import jwt, requests
from cryptography.hazmat.primitives.asymmetric import ec

auth, api = os.environ["AUTH"], os.environ.get("API", os.environ["AUTH"])
key = ec.generate_private_key(ec.SECP256R1())  # keep it for as long as the token lives
public_jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)


def proof(method, url, token=None):
    claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if token:  # at a resource: the hash of the token it goes with
        digest = hashlib.sha256(token.encode()).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    headers = {"typ": "dpop+jwt", "jwk": public_jwk}
    return jwt.encode(claims, key, algorithm="ES256", headers=headers)


token_url = f"{auth}/oauth/token"
answer = requests.post(token_url, data={"grant_type": "client_credentials"},
                       auth=(os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]),
                       headers={"DPoP": proof("POST", token_url)}, timeout=10).json()
assert answer["token_type"] == "DPoP", answer
token = answer["access_token"]

url = f"{api}/v2/{os.environ['TENANT_ID']}/dw/a360/customers"
page = requests.get(url, timeout=10, headers={
    "Authorization": f"DPoP {token}", "DPoP": proof("GET", url, token)})
page.raise_for_status()
print(page.status_code, page.json()["count"], "customers")
