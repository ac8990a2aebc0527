#!/usr/bin/env node
// Loopback OAuth 2.0 / OpenID Connect identity provider for devauthd tests.
//
// Wraps oidc-provider (pinned in package-lock.json) and adds the behaviours of
// Keycloak that devauthd meets in production: the `interval` field and
// `slow_down` in the RFC 8628 device flow, refresh tokens without
// offline_access, Keycloak-shaped URLs (--realm), PKCE on the device flow,
// no clock tolerance, and test-only control endpoints under /_test/.
// See README.md beside this file.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const USAGE = `usage: node server.mjs [options]
  --port N               TCP port (default 0: a free port)
  --host H               loopback address to listen on (default 127.0.0.1)
  --ready-file PATH      write {"issuer","port","pid"} there once listening
  --realm NAME           Keycloak-shaped URLs under /realms/NAME
  --client-id ID         main client (default devauth-demo)
  --client-secret S      make the main client confidential
  --extra-client ID      another public client (repeatable)
  --client ID:METHOD:CRED
                         a confidential client of the device, refresh and
                         client_credentials grants that authenticates with
                         METHOD: client_secret_basic or client_secret_post
                         (CRED: the secret), private_key_jwt (CRED: a JWKS
                         file of its public keys) or tls_client_auth (CRED:
                         the certificate's subject DN, e.g. CN=tv; the
                         certificate comes from a TLS front in the
                         X-Client-Cert header, URL-encoded PEM, as a reverse
                         proxy passes it) (repeatable)
  --auth-methods LIST    token_endpoint_auth_methods_supported, comma-separated
                         (default: oidc-provider's)
  --access-ttl S         access token lifetime (default 300)
  --refresh-ttl S        refresh token lifetime (default 86400)
  --device-code-ttl S    device code lifetime (default 600)
  --interval S           interval in device authorization responses (default 5;
                         0 omits the field)
  --slow-down            answer slow_down to polls sooner than the interval
  --refresh-tokens MODE  what a refresh gives back: keycloak (default: a new
                         refresh token, the old one still valid, as Keycloak
                         does), rotate (a new one, the old one consumed),
                         grace:S (a new one, the old one still valid for S
                         seconds, as Okta's and Auth0's rotation do) or same
                         (the same one back)
  --rotate-refresh       the same as --refresh-tokens rotate
  --require-pkce         require S256 PKCE on the device flow
  --revoke-on-replay     a poll of an already redeemed device code revokes the
                         tokens it gave (oidc-provider's own behaviour)
  --verbose              log one line per request and oidc-provider notices
  --help                 this text`;

// ---------------------------------------------------------------- options

function die(msg, code = 2) {
  process.stderr.write(`server.mjs: ${msg}\n`);
  process.exit(code);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'ready-file': { type: 'string' },
      realm: { type: 'string' },
      'client-id': { type: 'string', default: 'devauth-demo' },
      'client-secret': { type: 'string' },
      'extra-client': { type: 'string', multiple: true, default: [] },
      client: { type: 'string', multiple: true, default: [] },
      'auth-methods': { type: 'string' },
      'access-ttl': { type: 'string', default: '300' },
      'refresh-ttl': { type: 'string', default: '86400' },
      'device-code-ttl': { type: 'string', default: '600' },
      interval: { type: 'string', default: '5' },
      'slow-down': { type: 'boolean', default: false },
      'rotate-refresh': { type: 'boolean', default: false },
      'refresh-tokens': { type: 'string', default: 'keycloak' },
      'require-pkce': { type: 'boolean', default: false },
      'revoke-on-replay': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  die(`${err.message}\n${USAGE}`);
}

if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

function intOpt(name, min, max) {
  const s = args[name];
  if (!/^\d+$/.test(s)) die(`--${name}: not a non-negative integer: ${s}`);
  const n = Number(s);
  if (n < min || n > max) die(`--${name}: must be between ${min} and ${max}`);
  return n;
}

const PORT = intOpt('port', 0, 65535);
const ACCESS_TTL = intOpt('access-ttl', 1, 10 * 365 * 86400);
const REFRESH_TTL = intOpt('refresh-ttl', 1, 10 * 365 * 86400);
const DEVICE_CODE_TTL = intOpt('device-code-ttl', 1, 86400);
const INTERVAL = intOpt('interval', 0, 3600);
// Keycloak's and RFC 8628's default when no interval is advertised.
const POLL_INTERVAL_MS = (INTERVAL || 5) * 1000;
const SLOW_DOWN = args['slow-down'];
const REFRESH_ARG = args['rotate-refresh'] ? 'rotate' : args['refresh-tokens'];
const GRACE = /^grace:([0-9]{1,4})$/.exec(REFRESH_ARG);
const REFRESH_MODE = GRACE ? 'grace' : REFRESH_ARG;
// grace: how long a replaced refresh token stays valid
const REFRESH_GRACE_MS = GRACE ? Number(GRACE[1]) * 1000 : 0;
if (!['keycloak', 'rotate', 'grace', 'same'].includes(REFRESH_MODE)) {
  usage(`--refresh-tokens: '${REFRESH_ARG}' is not keycloak, rotate, grace:S or same`);
}
const REQUIRE_PKCE = args['require-pkce'];
const REVOKE_ON_REPLAY = args['revoke-on-replay'];
const VERBOSE = args.verbose;

// Loopback only: 127.0.0.0/8, ::1, localhost.
function loopbackHost(h) {
  const bare = h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
  if (bare.toLowerCase() === 'localhost') return { bind: '127.0.0.1', url: 'localhost' };
  if (net.isIPv4(bare) && bare.split('.')[0] === '127') return { bind: bare, url: bare };
  if (net.isIPv6(bare)) {
    const norm = new URL(`http://[${bare}]/`).hostname;
    if (norm === '[::1]') return { bind: '::1', url: '[::1]' };
  }
  return null;
}
const HOST = loopbackHost(args.host);
if (!HOST) die(`--host ${args.host}: only loopback addresses are allowed`);

const REALM = args.realm;
if (REALM !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(REALM)) {
  die(`--realm ${REALM}: use letters, digits, '.', '_' or '-'`);
}
const PREFIX = REALM !== undefined ? `/realms/${REALM}` : '';

const CLIENT_ID_RE = /^[\x21-\x7e]{1,128}$/;
const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth'];
const authClients = args.client.map((spec) => {
  const [id, method, ...rest] = spec.split(':');
  const cred = rest.join(':');
  if (!id || !AUTH_METHODS.includes(method) || !cred) {
    die(`--client ${spec}: use ID:METHOD:CRED, METHOD one of ${AUTH_METHODS.join(', ')}`);
  }
  const meta = {
    client_id: id,
    client_name: id,
    token_endpoint_auth_method: method,
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token', 'client_credentials'],
    response_types: [],
    redirect_uris: [],
  };
  if (method === 'private_key_jwt') {
    try {
      meta.jwks = JSON.parse(fs.readFileSync(cred, 'utf8'));
    } catch (err) {
      die(`--client ${id}: cannot read the JWKS ${cred}: ${err.message}`);
    }
  } else if (method === 'tls_client_auth') {
    meta.tls_client_auth_subject_dn = cred;
  } else {
    meta.client_secret = cred;
  }
  return meta;
});
const clientIds = [args['client-id'], ...args['extra-client'], ...authClients.map((c) => c.client_id)];
for (const id of clientIds) {
  if (!CLIENT_ID_RE.test(id) || id.includes(':')) die(`bad client id: ${JSON.stringify(id)}`);
}
if (new Set(clientIds).size !== clientIds.length) die('client ids must be distinct');
if (args['client-secret'] !== undefined && args['client-secret'] === '') die('--client-secret: empty');

// oidc-provider prints notices with console.info (stdout) and console.warn.
// stdout carries only the READY line; the rest goes to stderr when --verbose.
{
  const toStderr = (...a) => {
    const line = a.map(String).join(' ');
    if (!VERBOSE && /^(\x1b\[[0-9;]*m)?oidc-provider (NOTICE|WARNING)/.test(line)) return;
    process.stderr.write(`${line}\n`);
  };
  console.log = toStderr;
  console.info = toStderr;
  console.warn = toStderr;
}

const { default: Provider, errors } = await import('oidc-provider');
const { handler: deviceCodeGrant, parameters: deviceCodeParams } = await import(
  'oidc-provider/lib/actions/grants/device_code.js'
);

// ---------------------------------------------------------------- storage

// In-memory adapter that keeps every record GRACE_S seconds past its expiry
// (oidc-provider's own drops it at once), so that a late poll of a device code
// gets expired_token and not invalid_grant. The models still check `exp`.
const GRACE_S = 300;
const store = new Map(); // "Model:id" -> { payload, until }
const byGrant = new Map(); // grantId -> Set of "Model:id"
const byUserCode = new Map(); // userCode -> id
const bySessionUid = new Map(); // session uid -> id
const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

function storeGet(key) {
  const e = store.get(key);
  if (!e) return undefined;
  if (Date.now() > e.until) {
    store.delete(key);
    return undefined;
  }
  return e.payload;
}

class RetainingAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const ttl = Number.isFinite(expiresIn) ? Math.max(expiresIn, 0) : 86400;
    store.set(key, { payload, until: Date.now() + (ttl + GRACE_S) * 1000 });
    if (GRANTABLE.has(this.model) && payload.grantId) {
      let set = byGrant.get(payload.grantId);
      if (!set) byGrant.set(payload.grantId, (set = new Set()));
      set.add(key);
    }
    if (this.model === 'DeviceCode' && payload.userCode) byUserCode.set(payload.userCode, id);
    if (this.model === 'Session' && payload.uid) bySessionUid.set(payload.uid, id);
  }

  async find(id) {
    return storeGet(this.key(id));
  }

  async findByUserCode(userCode) {
    const id = byUserCode.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUid(uid) {
    const id = bySessionUid.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    // Keycloak with "Revoke Refresh Token" off: a refresh token stays valid
    // after a new one was issued
    if (this.model === 'RefreshToken' && REFRESH_MODE === 'keycloak') return;
    const key = this.key(id);
    const mark = () => {
      const p = storeGet(key);
      if (p && !p.consumed) p.consumed = Math.floor(Date.now() / 1000);
    };
    // grace: the replaced token still works for a while, then is consumed
    if (this.model === 'RefreshToken' && REFRESH_MODE === 'grace') {
      setTimeout(mark, REFRESH_GRACE_MS).unref();
      return;
    }
    mark();
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) { // eslint-disable-line class-methods-use-this
    const set = byGrant.get(grantId);
    if (!set) return;
    for (const key of set) store.delete(key);
    byGrant.delete(grantId);
  }
}

// Per device code: time of the last poll that was not answered slow_down.
const lastPoll = new Map(); // device_code -> ms

setInterval(() => {
  const now = Date.now();
  for (const [key, e] of store) if (now > e.until) store.delete(key);
  for (const [code, id] of byUserCode) if (!store.has(`DeviceCode:${id}`)) byUserCode.delete(code);
  for (const [uid, id] of bySessionUid) if (!store.has(`Session:${id}`)) bySessionUid.delete(uid);
  for (const [g, set] of byGrant) {
    for (const key of set) if (!store.has(key)) set.delete(key);
    if (set.size === 0) byGrant.delete(g);
  }
  for (const code of lastPoll.keys()) if (!store.has(`DeviceCode:${code}`)) lastPoll.delete(code);
}, 30_000).unref();

// ---------------------------------------------------------------- stats

const MAX_REQUESTS = 1000;
const MAX_EVENTS = 10000;
const COUNTER_NAMES = [
  'discovery', 'device_authorization', 'token_device_code', 'token_refresh',
  'token_client_credentials',
  'revocation', 'userinfo', 'introspection', 'other',
];
let stats;
function resetStats() {
  stats = {
    counters: Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])),
    polls: [],
    refreshes: [],
    requests: [],
    assertions: [],
  };
}
resetStats();

function pushBounded(arr, item, max) {
  arr.push(item);
  if (arr.length > max) arr.splice(0, arr.length - max);
}

const nowMs = () => performance.timeOrigin + performance.now();
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

function counterFor(route, grantType) {
  switch (route) {
    case 'discovery':
    case 'device_authorization':
    case 'revocation':
    case 'userinfo':
    case 'introspection':
      return route;
    case 'token':
      if (grantType === DEVICE_GRANT) return 'token_device_code';
      if (grantType === 'refresh_token') return 'token_refresh';
      if (grantType === 'client_credentials') return 'token_client_credentials';
      return 'other';
    default:
      return 'other';
  }
}

// ---------------------------------------------------------------- pages

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Self-contained pages: nothing is loaded from anywhere but this server.
function page(title, body, result) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font-family:sans-serif;background:#eef1f4;margin:40px auto;max-width:26em;color:#222}
main{background:#fff;padding:1.5em 2em;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.2)}
h1{font-weight:normal;font-size:1.6em;margin-top:0}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;font-size:1.1em;padding:.4em;margin:.3em 0 .8em}
button{font-size:1em;padding:.5em 1.2em;margin:.2em .4em .2em 0}
code{font-size:1.6em;letter-spacing:.1em}
.err{color:#b00020}
</style>
</head>
<body>
<main id="idp-page" data-result="${esc(result || '')}">
<h1>${esc(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

async function userCodeInputSource(ctx, form, out, err) {
  let msg = '<p>Enter the code displayed on your device.</p>';
  let result = 'input';
  if (err && err.name === 'AbortedError') {
    msg = '<p class="err" id="denied">The sign-in request was denied.</p>';
    result = 'denied';
  } else if (err && (err.userCode || err.name === 'NoCodeError')) {
    msg = '<p class="err">The code you entered is incorrect, expired or already used. Try again.</p>';
    result = 'bad_code';
  } else if (err) {
    msg = `<p class="err">There was an error processing your request (${esc(out?.error)}).</p>`;
    result = 'error';
  }
  ctx.type = 'html';
  ctx.body = page('Device sign-in', `${msg}
${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`, result);
}

async function userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
  ctx.type = 'html';
  ctx.body = page('Confirm device', `<p><strong>${esc(client.clientName || client.clientId)}</strong>
wants to sign in. Check that your device shows this code:</p>
<p><code>${esc(userCode)}</code></p>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Deny</button>`, 'confirm');
}

async function successSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('Sign-in success', `<p id="approved">The device is signed in. You can close this page.</p>`, 'approved');
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('Error', `<p class="err">${esc(out.error)}: ${esc(out.error_description)}</p>`, 'error');
}

async function logoutSource(ctx, form) {
  ctx.type = 'html';
  ctx.body = page('Sign out', `<p>Sign out from ${esc(ctx.host)}?</p>
${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`, 'logout');
}

async function postLogoutSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('Signed out', '<p>You are signed out.</p>', 'logged_out');
}

// ---------------------------------------------------------------- helpers

function readBody(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function readParams(req) {
  const raw = await readBody(req);
  const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (type === 'application/json') {
    if (!raw.trim()) return {};
    const obj = JSON.parse(raw);
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new Error('JSON body must be an object');
    return obj;
  }
  return Object.fromEntries(new URLSearchParams(raw));
}

function sendJson(res, status, obj) {
  const body = `${JSON.stringify(obj)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

function sendHtml(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-store',
  });
  res.end(html);
}

const s256 = (v) => crypto.createHash('sha256').update(v).digest('base64url');
const PKCE_RE = /^[A-Za-z0-9\-._~]{43,128}$/;
const epoch = () => Math.floor(Date.now() / 1000);
const normalizeUserCode = (s) => String(s).toUpperCase().replace(/\W/g, '');

// ---------------------------------------------------------------- provider

const ROUTES = REALM !== undefined
  ? {
    authorization: '/protocol/openid-connect/auth',
    device_authorization: '/protocol/openid-connect/auth/device',
    code_verification: '/device',
    token: '/protocol/openid-connect/token',
    introspection: '/protocol/openid-connect/token/introspect',
    revocation: '/protocol/openid-connect/revoke',
    userinfo: '/protocol/openid-connect/userinfo',
    jwks: '/protocol/openid-connect/certs',
    end_session: '/protocol/openid-connect/logout',
    pushed_authorization_request: '/protocol/openid-connect/ext/par/request',
  }
  : undefined; // oidc-provider's own

const SCOPES = ['openid', 'offline_access', 'profile', 'email'];

function clientMetadata(id, secret) {
  return {
    client_id: id,
    client_name: id,
    ...(secret !== undefined
      ? { client_secret: secret, token_endpoint_auth_method: 'client_secret_basic' }
      : { token_endpoint_auth_method: 'none' }),
    grant_types: [DEVICE_GRANT, 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  };
}

function makeJwks() {
  // RS256, as Keycloak signs by default; a fresh key per run.
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, alg: 'RS256', use: 'sig', kid: crypto.randomBytes(8).toString('hex') }] };
}

function makeProvider(issuer) {
  const provider = new Provider(issuer, {
    adapter: RetainingAdapter,
    clients: [
      clientMetadata(args['client-id'], args['client-secret']),
      ...args['extra-client'].map((id) => clientMetadata(id)),
      ...authClients,
    ],
    ...(args['auth-methods'] ? { clientAuthMethods: args['auth-methods'].split(',') } : {}),
    // oidc-provider's defaults, and tls_client_auth when a client uses it
    ...(!args['auth-methods'] && authClients.some((c) => c.token_endpoint_auth_method === 'tls_client_auth')
      ? { clientAuthMethods: ['client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'private_key_jwt', 'none', 'tls_client_auth'] }
      : {}),
    jwks: makeJwks(),
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    scopes: SCOPES,
    // Keycloak puts the profile claims in the ID token too, which the
    // daemon shows the person by
    conformIdTokenClaims: false,
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    // Any user name is an account; its id (sub) is the name itself.
    async findAccount(ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return {
            sub, name: sub, preferred_username: sub, email: `${sub}@example.invalid`, email_verified: false,
          };
        },
      };
    },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        userCodeInputSource,
        userCodeConfirmSource,
        successSource,
        // Called while the device authorization request is handled, before
        // the device code is stored: PKCE is checked here and the challenge
        // kept in the device code record.
        deviceInfo(ctx) {
          const body = ctx.oidc.body || {};
          const info = { ip: ctx.ip, ua: ctx.get('user-agent') };
          const challenge = typeof body.code_challenge === 'string' ? body.code_challenge : undefined;
          const method = typeof body.code_challenge_method === 'string' ? body.code_challenge_method : undefined;
          if (REQUIRE_PKCE) {
            if (!challenge) throw new errors.InvalidRequest('code_challenge is required');
            if (method !== 'S256') throw new errors.InvalidRequest('code_challenge_method must be S256');
            if (!PKCE_RE.test(challenge)) throw new errors.InvalidRequest('code_challenge is malformed');
            info.codeChallenge = challenge;
          }
          return info;
        },
      },
      clientCredentials: { enabled: true },
      // RFC 8705 tls_client_auth behind a TLS front that checked the chain
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        getCertificate(ctx) {
          const header = ctx.get('x-client-cert');
          return header ? decodeURIComponent(header) : undefined;
        },
        certificateAuthorized(ctx) {
          return !!ctx.get('x-client-cert');
        },
        certificateSubjectMatches(ctx, property, expected) {
          if (property !== 'tls_client_auth_subject_dn') return false;
          const cert = new crypto.X509Certificate(decodeURIComponent(ctx.get('x-client-cert')));
          return cert.subject.split('\n').join(',') === expected;
        },
      },
      revocation: { enabled: true },
      introspection: {
        enabled: true,
        async allowedPolicy(ctx, client, token) {
          return !(client.clientAuthMethod === 'none' && token.clientId !== ctx.oidc.client.clientId);
        },
      },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
    ...(ROUTES ? { routes: ROUTES } : {}),
    interactions: {
      url: async (ctx, interaction) => `${PREFIX}/interaction/${interaction.uid}`,
    },
    renderError,
    ttl: {
      AccessToken: ACCESS_TTL,
      IdToken: ACCESS_TTL,
      RefreshToken: REFRESH_TTL,
      DeviceCode: DEVICE_CODE_TTL,
      AuthorizationCode: 60,
      ClientCredentials: ACCESS_TTL,
      BackchannelAuthenticationRequest: DEVICE_CODE_TTL,
      Interaction: 3600,
      Session: 86400,
      Grant: 10 * 365 * 86400,
    },
    // Expired tokens are rejected at once (oidc-provider's default: 15 s late).
    clockTolerance: 0,
    // Keycloak: a refresh token whenever the client has the refresh grant.
    async issueRefreshToken(ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },
    // 'keycloak' rotates too, but the adapter keeps the old token valid
    rotateRefreshToken: () => REFRESH_MODE !== 'same',
    // Tokens do not die with the approving browser's session.
    expiresWithSession: async () => false,
  });
  provider.proxy = false;

  // Device code polls: Keycloak's order of checks. Runs after client
  // authentication; oidc-provider's own handler does the rest (unknown code →
  // invalid_grant, expired → expired_token, denied, pending, tokens).
  provider.registerGrantType(DEVICE_GRANT, async (ctx, next) => {
    const value = ctx.oidc.params.device_code;
    const code = typeof value === 'string'
      ? await provider.DeviceCode.find(value, { ignoreExpiration: true })
      : undefined;
    if (code && code.clientId === ctx.oidc.client.clientId && !code.isExpired) {
      if (code.consumed && !REVOKE_ON_REPLAY) {
        throw new errors.InvalidGrant('device code already consumed');
      }
      if (!code.consumed) {
        if (SLOW_DOWN) {
          const now = Date.now();
          const last = lastPoll.get(value);
          if (last !== undefined && now - last < POLL_INTERVAL_MS) throw new errors.SlowDown();
          lastPoll.set(value, now);
        }
        const challenge = code.deviceInfo?.codeChallenge;
        if (challenge) {
          const verifier = ctx.oidc.params.code_verifier;
          if (typeof verifier !== 'string' || !PKCE_RE.test(verifier)) {
            throw new errors.InvalidGrant('code_verifier is missing or malformed');
          }
          if (s256(verifier) !== challenge) throw new errors.InvalidGrant('PKCE verification failed');
        }
      }
    }
    return deviceCodeGrant(ctx, next);
  }, [...deviceCodeParams, 'code_verifier']);

  provider.on('grant.error', (ctx, err) => {
    ctx.state.idpError = err.error || 'error';
  });
  provider.on('server_error', (ctx, err) => {
    ctx.state.idpError = 'server_error';
    process.stderr.write(`server error on ${ctx.method} ${ctx.path}: ${err.stack || err}\n`);
  });

  // Wraps every request that oidc-provider handles.
  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    const grantType = ctx.oidc?.params?.grant_type;
    const h = ctx.req.idp;
    if (h) {
      h.route = route;
      h.grantType = typeof grantType === 'string' ? grantType : undefined;
    }

    if (route === 'device_authorization' && ctx.status === 200 && ctx.body?.device_code) {
      if (INTERVAL > 0) ctx.body.interval = INTERVAL;
    }

    // what a client assertion said, for the tests (private_key_jwt)
    const assertion = ctx.oidc?.params?.client_assertion ?? ctx.oidc?.body?.client_assertion;
    if (typeof assertion === 'string') {
      const t = h ? h.t : nowMs();
      const result = ctx.status < 300 ? 'ok' : (ctx.body?.error || `http_${ctx.status}`);
      try {
        const [head, body] = assertion.split('.').slice(0, 2)
          .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8')));
        pushBounded(stats.assertions, {
          t, route, result, alg: head.alg, kid: head.kid ?? null, iss: body.iss, sub: body.sub,
          aud: body.aud, jti: body.jti, iat: body.iat, exp: body.exp,
        }, MAX_EVENTS);
      } catch {
        pushBounded(stats.assertions, { t, route, result, malformed: true }, MAX_EVENTS);
      }
    }

    if (route === 'token') {
      const ok = ctx.status === 200;
      if (ok && ctx.body && typeof ctx.body === 'object' && ctx.body.refresh_token) {
        const rt = ctx.oidc.entities.RefreshToken;
        // Keycloak's extra field. A token minted in this request has no
        // `exp` on the instance yet, only its lifetime.
        const left = rt?.exp ? rt.exp - epoch() : rt?.expiration;
        if (Number.isFinite(left)) ctx.body.refresh_expires_in = Math.max(left, 0);
      }
      const result = ok ? 'tokens' : (ctx.state.idpError || ctx.body?.error || `http_${ctx.status}`);
      const t = h ? h.t : nowMs();
      if (grantType === DEVICE_GRANT) {
        pushBounded(stats.polls, {
          t, result, pkce: typeof ctx.oidc.params.code_verifier === 'string',
        }, MAX_EVENTS);
      } else if (grantType === 'refresh_token') {
        pushBounded(stats.refreshes, { t, result }, MAX_EVENTS);
      }
    }
  });

  return provider;
}

// ---------------------------------------------------------------- interactions

async function interactionPage(provider, req, res, uid, { error } = {}) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  const client = await provider.Client.find(details.params.client_id);
  const action = `${PREFIX}/interaction/${encodeURIComponent(uid)}`;
  const deny = `<a href="${esc(action)}/abort">Cancel</a>`;
  const err = error ? `<p class="err">${esc(error)}</p>` : '';
  if (details.prompt.name === 'login') {
    return sendHtml(res, error ? 400 : 200, page('Sign in', `${err}
<p>Sign in to continue to <strong>${esc(client?.clientName || details.params.client_id)}</strong>.
Any user name and password will do.</p>
<form id="login-form" method="post" action="${esc(action)}" autocomplete="off">
<input type="hidden" name="prompt" value="login">
<label>User name <input type="text" name="login" required autofocus></label>
<label>Password <input type="password" name="password"></label>
<button type="submit">Sign in</button> ${deny}
</form>`, 'login'));
  }
  if (details.prompt.name === 'consent') {
    const scopes = (details.prompt.details.missingOIDCScope || [])
      .map((s) => `<li>${esc(s)}</li>`).join('');
    return sendHtml(res, 200, page('Authorize', `${err}
<p><strong>${esc(client?.clientName || details.params.client_id)}</strong> asks for access
as <strong>${esc(details.session?.accountId)}</strong>.</p>
${scopes ? `<ul>${scopes}</ul>` : ''}
<form id="consent-form" method="post" action="${esc(action)}">
<input type="hidden" name="prompt" value="consent">
<button type="submit">Allow</button> ${deny}
</form>`, 'consent'));
  }
  return sendHtml(res, 501, page('Error', `<p class="err">unsupported prompt ${esc(details.prompt.name)}</p>`, 'error'));
}

async function interactionSubmit(provider, req, res, uid) {
  const body = await readParams(req);
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  const { prompt, params, session } = details;
  if (prompt.name === 'login' && body.prompt === 'login') {
    const login = typeof body.login === 'string' ? body.login.trim() : '';
    if (!login || login.length > 256) {
      return interactionPage(provider, req, res, uid, { error: 'Enter a user name.' });
    }
    return provider.interactionFinished(req, res, {
      login: { accountId: login, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'consent' && body.prompt === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scope] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scope.join(' '));
      }
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return interactionPage(provider, req, res, uid, { error: 'Unexpected form; try again.' });
}

async function handleInteraction(provider, req, res, uid, abort) {
  try {
    if (abort) {
      if (req.method !== 'GET') return sendHtml(res, 405, page('Error', '<p>method not allowed</p>', 'error'));
      return await provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'End-User aborted interaction',
      }, { mergeWithLastSubmission: false });
    }
    if (req.method === 'GET') return await interactionPage(provider, req, res, uid);
    if (req.method === 'POST') return await interactionSubmit(provider, req, res, uid);
    return sendHtml(res, 405, page('Error', '<p>method not allowed</p>', 'error'));
  } catch (err) {
    if (res.headersSent) return undefined;
    const msg = err instanceof errors.SessionNotFound
      ? 'This sign-in session was not found or has expired. Start again from the device page.'
      : err.message;
    return sendHtml(res, 400, page('Error', `<p class="err">${esc(msg)}</p>`, 'error'));
  }
}

// ---------------------------------------------------------------- /_test/

async function approveOrDeny(provider, body, approve) {
  const userCode = body.user_code;
  if (typeof userCode !== 'string' || !userCode) {
    return [400, { error: 'invalid_request', error_description: 'user_code is required' }];
  }
  const code = await provider.DeviceCode.findByUserCode(normalizeUserCode(userCode), { ignoreExpiration: true });
  if (!code) return [404, { error: 'not_found', error_description: 'no such user code' }];
  if (code.isExpired) return [400, { error: 'expired_token', error_description: 'user code expired' }];
  if (code.error || code.accountId || code.inFlight) {
    return [409, { error: 'already_used', error_description: 'user code already used' }];
  }
  if (!approve) {
    Object.assign(code, { error: 'access_denied', errorDescription: 'End-User aborted interaction' });
    await code.save();
    return [200, { ok: true, user_code: userCode, client_id: code.clientId, result: 'denied' }];
  }
  const sub = body.sub === undefined ? 'demo' : body.sub;
  if (typeof sub !== 'string' || !sub.trim() || sub.length > 256) {
    return [400, { error: 'invalid_request', error_description: 'bad sub' }];
  }
  // What a real approval records: a grant of the requested (known) scopes,
  // then the account, grant and scope on the device code.
  const requested = String(code.params?.scope || '').split(' ').filter(Boolean);
  const scope = [...new Set(requested.filter((s) => SCOPES.includes(s)))].join(' ');
  const grant = new provider.Grant({ accountId: sub.trim(), clientId: code.clientId });
  if (scope) grant.addOIDCScope(scope);
  const grantId = await grant.save();
  Object.assign(code, {
    accountId: sub.trim(),
    amr: ['pwd'],
    authTime: epoch(),
    grantId,
    scope,
  });
  await code.save();
  return [200, { ok: true, user_code: userCode, client_id: code.clientId, sub: sub.trim(), result: 'approved' }];
}

function revokeAll() {
  const models = new Set(['AccessToken', 'RefreshToken', 'Grant', 'Session', 'AuthorizationCode', 'ClientCredentials', 'Interaction']);
  let n = 0;
  for (const key of [...store.keys()]) {
    if (models.has(key.slice(0, key.indexOf(':')))) {
      store.delete(key);
      n += 1;
    }
  }
  byGrant.clear();
  bySessionUid.clear();
  return n;
}

async function handleTest(provider, req, res, pathname) {
  const post = req.method === 'POST';
  try {
    switch (pathname) {
      case '/_test/stats':
        if (req.method !== 'GET') break;
        return sendJson(res, 200, stats);
      case '/_test/reset-stats':
        if (!post) break;
        resetStats();
        return sendJson(res, 200, { ok: true });
      case '/_test/approve':
      case '/_test/deny': {
        if (!post) break;
        const body = await readParams(req);
        const [status, out] = await approveOrDeny(provider, body, pathname === '/_test/approve');
        return sendJson(res, status, out);
      }
      case '/_test/revoke-all':
        if (!post) break;
        return sendJson(res, 200, { ok: true, revoked: revokeAll() });
      default:
        return sendJson(res, 404, { error: 'not_found' });
    }
    return sendJson(res, 405, { error: 'method_not_allowed' });
  } catch (err) {
    return sendJson(res, err.status || 400, { error: 'invalid_request', error_description: err.message });
  }
}

// ---------------------------------------------------------------- server

let provider;
let callback;

function finish(req, res, pathname) {
  const h = req.idp;
  const counter = counterFor(h.route, h.grantType);
  stats.counters[counter] += 1;
  pushBounded(stats.requests, {
    t: h.t, method: req.method, path: pathname, grant_type: h.grantType ?? null,
  }, MAX_REQUESTS);
  if (VERBOSE) {
    const ms = (nowMs() - h.t).toFixed(1);
    const gt = h.grantType ? ` ${h.grantType.replace('urn:ietf:params:oauth:grant-type:', '')}` : '';
    process.stderr.write(`${req.method} ${pathname}${gt} -> ${res.statusCode} ${ms}ms\n`);
  }
}

async function handle(req, res) {
  const t = nowMs();
  let url;
  try {
    url = new URL(req.url, 'http://localhost');
  } catch {
    return sendJson(res, 400, { error: 'invalid_request' });
  }
  const { pathname } = url;
  if (!provider) return sendJson(res, 503, { error: 'temporarily_unavailable' });

  if (pathname === '/_test' || pathname.startsWith('/_test/')) {
    return handleTest(provider, req, res, pathname);
  }

  req.idp = { t, route: undefined, grantType: undefined };
  res.once('finish', () => finish(req, res, pathname));

  let inner = pathname;
  if (PREFIX) {
    if (pathname !== PREFIX && !pathname.startsWith(`${PREFIX}/`)) {
      return sendJson(res, 404, { error: 'not_found', error_description: `no realm at ${pathname}` });
    }
    inner = pathname.slice(PREFIX.length) || '/';
    // oidc-provider finds its mount point in req.baseUrl (as under express).
    req.baseUrl = PREFIX;
    req.url = `${inner}${url.search}`;
  }

  const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/abort)?$/.exec(inner);
  if (m) return handleInteraction(provider, req, res, m[1], !!m[2]);

  return callback(req, res);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    process.stderr.write(`request error: ${err.stack || err}\n`);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
    else res.destroy();
  });
});
server.keepAliveTimeout = 5000;

let readyFileWritten = false;
function cleanupAndExit(code) {
  if (readyFileWritten) {
    try { fs.unlinkSync(args['ready-file']); } catch { /* already gone */ }
  }
  process.exit(code);
}
process.on('SIGTERM', () => cleanupAndExit(0));
process.on('SIGINT', () => cleanupAndExit(0));

server.on('error', (err) => die(`cannot listen on ${args.host}:${PORT}: ${err.message}`, 1));
server.listen({ port: PORT, host: HOST.bind, exclusive: true }, () => {
  const { port } = server.address();
  const issuer = `http://${HOST.url}:${port}${PREFIX}`;
  provider = makeProvider(issuer);
  callback = provider.callback();

  if (args['ready-file']) {
    const file = path.resolve(args['ready-file']);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify({ issuer, port, pid: process.pid })}\n`);
    fs.renameSync(tmp, file);
    args['ready-file'] = file;
    readyFileWritten = true;
  }
  process.stdout.write(`READY ${issuer}\n`);
  if (VERBOSE) process.stderr.write(`listening on ${issuer}\n`);
});
