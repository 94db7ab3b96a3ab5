// A real OpenID Connect provider for the single sign-on tests: npm's oidc-provider (certified;
// pinned in package.json) on 127.0.0.1, with one confidential client and users with groups.
//
//   node tests/sso/oidc_provider.mjs <port> <config.json>
// config: {"client_id", "client_secret", "redirect_uri", "users": {"<login>": {"name", "groups"}}}
// Its sign-in is the provider's own development interaction (a login form; the test's users
// sign in by name). POST /test/disable/<login> disables a user: from then on the provider finds
// no such account (userinfo answers 401 invalid_token, refresh is refused), as a directory
// would after an administrator disables someone.
import http from "node:http";
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const [port, configPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8"));
const issuer = `http://127.0.0.1:${port}`;
const disabled = new Set();

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: [config.redirect_uri],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
  }],
  pkce: { required: () => true },
  claims: { openid: ["sub"], profile: ["name", "preferred_username"], groups: ["groups"] },
  scopes: ["openid", "offline_access", "profile", "groups"],
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["oidc-test-cookie-key-not-secret"] },
  async findAccount(ctx, id) {
    const user = config.users[id];
    if (!user || disabled.has(id)) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: user.name, groups: user.groups };
      },
    };
  },
});
provider.proxy = false;
const callback = provider.callback();

const server = http.createServer((req, res) => {
  const match = req.method === "POST" && req.url.match(/^\/test\/disable\/([^/]+)$/);
  if (match) {
    disabled.add(decodeURIComponent(match[1]));
    res.writeHead(204).end();
    return;
  }
  callback(req, res);
});
server.listen(Number(port), "127.0.0.1", () => console.log(`oidc provider ready on ${issuer}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
