// An OpenID provider on loopback for the OAuth tests: oidc-provider (an OpenID Certified implementation, installed
// by .ci/run into .ci/node) issuing JWT access tokens (RFC 9068) by client credentials, for whatever resource a token
// request names (RFC 8707), with the scopes bimpe:read and bimpe:call.
//
// Reads its configuration from the JSON file its first argument names:
//   {"keys": [private JWK, ...], "alg": "RS256" | "ES256" | "EdDSA",
//    "clients": [{"client_id", "client_secret", "scope", "alg"?}]}
// A client's access tokens are signed with its own "alg" where it names one, else with "alg".
// Writes one line on stdout once it listens: `issuer http://127.0.0.1:<port>`.
// Test routes beside the provider's own:
//   POST /_test/keys {"keys", "alg", "clients"?}: from now on a new provider at the same issuer publishes these keys
//     alone and signs with them;
//   GET /_test/stats: {"jwks": how many times the key set was read}.
import http from "node:http";
import { readFile } from "node:fs/promises";
import { text } from "node:stream/consumers";
import { pathToFileURL } from "node:url";

// oidc-provider is installed by .ci/run into .ci/node, not next to this file.
const where = new URL("../../.ci/node/node_modules/oidc-provider/lib/index.js", import.meta.url);
const { default: Provider, errors } = await import(pathToFileURL(where.pathname).href);

const config = JSON.parse(await readFile(process.argv[2], "utf8"));
const stats = { jwks: 0 };

function provider(issuer, keys, alg) {
  const algOf = new Map(config.clients.map((c) => [c.client_id, c.alg ?? alg]));
  return new Provider(issuer, {
    clients: config.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      scope: c.scope,
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      id_token_signed_response_alg: alg,
    })),
    scopes: ["openid", "bimpe:read", "bimpe:call"],
    jwks: { keys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource, client) => {
          if (!/^https?:\/\//.test(resource)) throw new errors.InvalidTarget();
          return {
            scope: "bimpe:read bimpe:call",
            audience: resource,
            accessTokenTTL: 300,
            accessTokenFormat: "jwt",
            jwt: { sign: { alg: algOf.get(client.clientId) ?? alg } },
          };
        },
      },
    },
  });
}

let current = null;
const server = http.createServer(async (req, res) => {
  if (req.url === "/_test/stats") {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(stats));
    return;
  }
  if (req.url === "/_test/keys" && req.method === "POST") {
    const next = JSON.parse(await text(req));
    config.clients = next.clients ?? config.clients;
    current = provider(current.issuer, next.keys, next.alg);
    res.end("{}");
    return;
  }
  if (req.url === "/jwks") stats.jwks += 1;
  current.callback()(req, res);
});
server.listen(0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  current = provider(issuer, config.keys, config.alg);
  process.stdout.write(`issuer ${issuer}\n`);
});
process.on("SIGINT", () => server.close(() => process.exit(0)));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
