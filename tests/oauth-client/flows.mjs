// Runs one OAuth scenario against a cdp-auth server with oauth4webapi, a standard client that
// does what strict clients do: validates the server metadata, form-encodes the client id and
// secret before Basic encoding (RFC 6749 §2.3.1), and builds and signs its own private_key_jwt
// assertions (RFC 7523) and DPoP proofs (RFC 9449). Prints one JSON object on stdout; exits
// non-zero when the scenario failed. tests/oauth_client_library.rs drives it.
//
//   node flows.mjs SCENARIO --server URL [--client-id ID] [--key FILE] [--token T] [--alg A] [--out FILE]
//                           [--resource URL]
//
// The client secret is read from OAUTH_CLIENT_SECRET, so it never shows in a process list.
// A client authenticates with the secret (client_secret_basic) unless --key names a private
// key file written by the `keygen` scenario (then private_key_jwt).
//
// To add a scenario, add a function to `scenarios` below: it gets the parsed options and
// returns what to print.

import { readFile, writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import * as oauth from 'oauth4webapi'

// The test server speaks plain HTTP on loopback.
const insecure = { [oauth.allowInsecureRequests]: true }

// WebCrypto parameters of each JOSE algorithm the scenarios generate keys for.
const ALGORITHMS = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  EdDSA: { name: 'Ed25519' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  PS256: { name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
}

/** The server's metadata, fetched and validated by oauth4webapi (RFC 8414). */
async function discover(options) {
  const issuer = new URL(required(options, 'server'))
  const response = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure })
  return oauth.processDiscoveryResponse(issuer, response)
}

/** The client and how it authenticates: private_key_jwt with --key, else client_secret_basic. */
async function client(options) {
  const client = { client_id: required(options, 'client-id') }
  if (options.key) {
    const stored = JSON.parse(await readFile(options.key, 'utf8'))
    const key = await crypto.subtle.importKey('jwk', stored.private, importParams(stored.alg), false, ['sign'])
    return { client, auth: oauth.PrivateKeyJwt({ key, kid: stored.kid }) }
  }
  const secret = process.env.OAUTH_CLIENT_SECRET
  if (!secret) throw new Error('set OAUTH_CLIENT_SECRET or pass --key')
  return { client, auth: oauth.ClientSecretBasic(secret) }
}

function importParams(alg) {
  const { modulusLength, publicExponent, ...params } = ALGORITHMS[alg] ?? {}
  if (!params.name) throw new Error(`unknown --alg ${alg}`)
  return params
}

function required(options, name) {
  if (!options[name]) throw new Error(`--${name} is required`)
  return options[name]
}

const scenarios = {
  /** RFC 8414 discovery, validated by the library. */
  async discovery(options) {
    const as = await discover(options)
    return { metadata: as }
  },

  /** Makes a key pair; writes the private JWK to --out and prints the public JWK to register. */
  async keygen(options) {
    const alg = required(options, 'alg')
    const pair = await crypto.subtle.generateKey(ALGORITHMS[alg], true, ['sign', 'verify'])
    const kid = `${alg.toLowerCase()}-${crypto.randomUUID()}`
    const { key_ops: _ops, ext: _ext, ...pub } = await crypto.subtle.exportKey('jwk', pair.publicKey)
    const privateJwk = await crypto.subtle.exportKey('jwk', pair.privateKey)
    await writeFile(required(options, 'out'), JSON.stringify({ alg, kid, private: privateJwk }), { mode: 0o600 })
    return { alg, public: { ...pub, kid } }
  },

  /** client_credentials (RFC 6749 §4.4). */
  async client_credentials(options) {
    const as = await discover(options)
    const { client: c, auth } = await client(options)
    const response = await oauth.clientCredentialsGrantRequest(as, c, auth, new URLSearchParams(), insecure)
    const result = await oauth.processClientCredentialsResponse(as, c, response)
    return { token: result }
  },

  /**
   * DPoP (RFC 9449) with a new non-extractable key of --alg: a bound token from
   * client_credentials, then --resource (a URL) read with it, the library making every proof.
   * Reports what the server answered: the bound read, the same token sent as a plain Bearer,
   * and the library's own proof replayed by hand.
   */
  async dpop(options) {
    const as = await discover(options)
    const { client: c, auth } = await client(options)
    const keyPair = await crypto.subtle.generateKey(ALGORITHMS[required(options, 'alg')], false, ['sign', 'verify'])
    const DPoP = oauth.DPoP(c, keyPair)
    const granted = await oauth.processClientCredentialsResponse(
      as, c, await oauth.clientCredentialsGrantRequest(as, c, auth, new URLSearchParams(), { DPoP, ...insecure }))
    const url = new URL(required(options, 'resource'))
    const bound = await oauth.protectedResourceRequest(granted.access_token, 'GET', url, new Headers(), null, { DPoP, ...insecure })
    // The proof the library sent last, sent again: a replay.
    let proof
    const capture = async (input, init) => {
      proof = new Headers(init?.headers).get('dpop')
      return fetch(input, init)
    }
    await oauth.protectedResourceRequest(granted.access_token, 'GET', url, new Headers(), null,
      { DPoP, [oauth.customFetch]: capture, ...insecure })
    const replayed = await fetch(url, { headers: { authorization: `DPoP ${granted.access_token}`, dpop: proof } })
    const plain = await fetch(url, { headers: { authorization: `Bearer ${granted.access_token}` } })
    const proofHeader = JSON.parse(Buffer.from(proof.split('.')[0], 'base64url').toString())
    return {
      token_type: granted.token_type,
      proof_alg: proofHeader.alg,
      bound: { status: bound.status, body: await bound.json() },
      replayed: { status: replayed.status, body: await replayed.json(), challenge: replayed.headers.get('www-authenticate') },
      plain_bearer: { status: plain.status, body: await plain.json() },
    }
  },

  /** Introspection (RFC 7662) of --token. */
  async introspect(options) {
    const as = await discover(options)
    const { client: c, auth } = await client(options)
    const response = await oauth.introspectionRequest(as, c, auth, required(options, 'token'), insecure)
    return { introspection: await oauth.processIntrospectionResponse(as, c, response) }
  },

  /** Revocation (RFC 7009) of --token. */
  async revoke(options) {
    const as = await discover(options)
    const { client: c, auth } = await client(options)
    const response = await oauth.revocationRequest(as, c, auth, required(options, 'token'), insecure)
    await oauth.processRevocationResponse(response)
    return { revoked: true }
  },
}

async function main() {
  const { values: options, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      'client-id': { type: 'string' },
      key: { type: 'string' },
      token: { type: 'string' },
      alg: { type: 'string' },
      out: { type: 'string' },
      resource: { type: 'string' },
    },
  })
  const [name] = positionals
  const scenario = scenarios[name]
  if (!scenario) {
    throw new Error(`unknown scenario ${JSON.stringify(name)}; known: ${Object.keys(scenarios).join(', ')}`)
  }
  return { scenario: name, ok: true, ...(await scenario(options)) }
}

/** The server's JSON error body of a refusal (oauth4webapi reports a 401 with a
 * `WWW-Authenticate` challenge as a challenge error that keeps the response). */
async function serverError(error) {
  if (error?.error) return { error: error.error, error_description: error.error_description }
  try {
    const body = await error?.response?.json()
    return { error: body?.error, error_description: body?.error_description }
  } catch {
    return {}
  }
}

main().then(
  (result) => console.log(JSON.stringify(result)),
  async (error) => {
    console.log(JSON.stringify({
      ok: false,
      name: error?.name,
      message: error?.message,
      code: error?.code,
      status: error?.status,
      ...(await serverError(error)),
    }))
    process.exitCode = 1
  },
)
