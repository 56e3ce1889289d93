// The peer of scripts/bench: panva's oidc-provider (npm), as its documentation sets it up, with
// one client_credentials client and token introspection (RFC 7662) enabled.
//
//   npm ci --prefix tests/bench-peer
//   node tests/bench-peer/server.mjs [--listen 127.0.0.1:0]
//
// Prints `listening on http://ADDR` on stdout once it serves, like cdp-auth. The client is
// `bench-client` / `bench-secret` (client_secret_basic). scripts/bench gets a token with
//   POST /token                grant_type=client_credentials
// and loads
//   POST /token/introspection  token=…   (Basic bench-client:bench-secret)
// Tokens are opaque and kept by oidc-provider's default in-memory adapter: no database at all.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

let listen = '127.0.0.1:0';
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 1) {
  if (args[i] === '--listen' && args[i + 1]) {
    listen = args[i + 1];
    i += 1;
  } else {
    console.error(`bench-peer: unknown argument ${args[i]}`);
    process.exit(2);
  }
}
const colon = listen.lastIndexOf(':');
const host = listen.slice(0, colon);
const port = Number(listen.slice(colon + 1));

// Signing keys and cookie keys of its own, so that it does not run on the development keys.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', use: 'sig', alg: 'RS256' };

let handler = (req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = createServer((req, res) => handler(req, res));
server.listen(port, host, () => {
  const address = server.address();
  const issuer = `http://${address.address}:${address.port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'bench-client',
        client_secret: 'bench-secret',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // A client may introspect the tokens issued to it (cdp-auth: callers of the same tenant).
        allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId,
      },
    },
    scopes: ['api'],
    // An hour, so that a long run never introspects an expired token (the default is 10 min).
    ttl: { ClientCredentials: 3600 },
    clientBasedCORS: () => false,
    cookies: { keys: [randomBytes(32).toString('hex')] },
    jwks: { keys: [jwk] },
  });
  handler = provider.callback();
  console.log(`listening on ${issuer}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
