// Credential sources for the auth scenarios, written as an application would write them.
//
// `signJwt` is an independent HS256 signer (node:crypto, no broker code), so a JWT the broker
// accepts proves interop with any standard JWT library, not just agreement with itself.
// `credentials(p, kind)` gives the auth options for one credential form (to pass to lib.mjs's
// realtime()/rest helpers) and counts every time the SDK asks for a token in `counter.calls`.
import { createHmac } from 'node:crypto';
import { errorJson, rest, withTimeout } from './lib.mjs';

const b64url = (value) => Buffer.from(value).toString('base64url');

export function splitKey(key) {
  const colon = key.indexOf(':');
  return { keyName: key.slice(0, colon), secret: key.slice(colon + 1) };
}

/** An Ably JWT: header {typ, alg: HS256, kid: keyName}, claims iat/exp (s), capability, clientId. */
export function signJwt(key, { clientId = null, capability = { '*': ['*'] }, ttlMs = 60000, issuedMs = Date.now() } = {}) {
  const { keyName, secret } = splitKey(key);
  const header = { typ: 'JWT', alg: 'HS256', kid: keyName };
  const claims = {
    iat: Math.floor(issuedMs / 1000),
    exp: Math.floor((issuedMs + ttlMs) / 1000),
    'x-ably-capability': JSON.stringify(capability),
  };
  if (clientId !== null) claims['x-ably-clientId'] = clientId;
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = createHmac('sha256', secret).update(input).digest('base64url');
  return `${input}.${signature}`;
}

/**
 * Client options (besides host/port/format) for one credential form:
 *   jwt            authCallback -> JWT string signed here
 *   tokenDetails   authCallback -> TokenDetails from a key-holding REST client's requestToken()
 *   tokenRequest   authCallback -> TokenRequest from a key-holding REST client's createTokenRequest()
 *   tokenRequestPy authCallback -> the next TokenRequest Python signed (p.tokenRequests)
 *   authUrl        the test's token server (p.authUrl)
 *   useTokenAuth   the key itself, with useTokenAuth: true
 * Token parameters come from p.clientId, p.capability (object) and p.ttlMs.
 */
export function authOptions(p, kind, counter) {
  const tokenParams = { clientId: p.clientId ?? undefined, capability: p.capability, ttl: p.ttlMs };
  const issuer = () => rest(p);
  const callback = (make) => (params, cb) => {
    counter.calls += 1;
    counter.params.push(params);
    counter.times.push(Date.now());
    Promise.resolve()
      .then(make)
      .then((token) => cb(null, token), (err) => cb(err, null));
  };
  switch (kind) {
    case 'jwt':
      return { key: undefined, authCallback: callback(() => signJwt(p.key, { clientId: p.clientId ?? null, capability: p.capability, ttlMs: p.ttlMs })) };
    case 'tokenDetails':
      return { key: undefined, authCallback: callback(() => issuer().auth.requestToken(tokenParams)) };
    case 'tokenRequest':
      return { key: undefined, authCallback: callback(() => issuer().auth.createTokenRequest(tokenParams)) };
    case 'tokenRequestPy':
      return {
        key: undefined,
        authCallback: callback(() => {
          const next = p.tokenRequests.shift();
          if (!next) throw new Error('the test supplied no more TokenRequests');
          return next;
        }),
      };
    case 'authUrl':
      return { key: undefined, authUrl: p.authUrl };
    case 'useTokenAuth':
      return { useTokenAuth: true, clientId: p.clientId ?? undefined, defaultTokenParams: { capability: p.capability, ttl: p.ttlMs } };
    default:
      throw new Error(`unknown credential kind ${kind}`);
  }
}

/** The auth part of a client's options for `kind` (plus `extra`), and its token-request counter. */
export function credentials(p, kind, extra = {}) {
  const counter = { calls: 0, params: [], times: [] };
  return { options: { ...authOptions(p, kind, counter), ...extra }, counter };
}

/** Settle a promise into {ok, value} or {ok: false, error} (bounded), for results. */
export function outcome(promise, ms, what) {
  return withTimeout(promise, ms, what).then(
    (value) => ({ ok: true, value: value ?? null }),
    (err) => ({ ok: false, error: errorJson(err) }),
  );
}
