// Auth scenario: token flows of an ably-js REST client that holds the key.
//   requestToken()        -> TokenDetails from the broker; a second client uses the token literal
//   createTokenRequest()  -> signed locally; a key-less client's authCallback hands it over and the
//                            SDK exchanges it at the broker; a second client replaying it is refused
//   useTokenAuth: true    -> the SDK signs and exchanges TokenRequests itself, then uses Bearer
//   requestToken() with a ttl over 24 h -> refused
import { scenario, rest, describe, withTimeout } from './lib.mjs';
import { outcome } from './auth_lib.mjs';

const noKey = (p, extra) => rest(p, { key: undefined, ...extra });
const historyOf = (client, channel) =>
  withTimeout(client.channels.get(channel).history({ direction: 'forwards' }), 10000, `history of ${channel}`)
    .then((page) => page.items.map(describe).map((m) => ({ data: m.data.value, clientId: m.clientId })));

scenario(async (p) => {
  const keyed = rest(p);

  const details = await withTimeout(keyed.auth.requestToken({ clientId: 'erin', capability: { 'rest:*': ['history', 'publish'] }, ttl: 60000 }), 10000, 'requestToken');
  const byToken = noKey(p, { token: details.token });
  const tokenPublish = await outcome(byToken.channels.get('rest:token').publish('m', 'by-token'), 10000, 'publish with the token');
  const tokenDenied = await outcome(byToken.channels.get('elsewhere').publish('m', 'denied'), 10000, 'publish outside the capability');
  const tokenHistory = await historyOf(byToken, 'rest:token');

  const request = await withTimeout(keyed.auth.createTokenRequest({ clientId: 'fred', ttl: 60000 }), 10000, 'createTokenRequest');
  const viaRequest = noKey(p, { authCallback: (_params, cb) => cb(null, request) });
  const requestPublish = await outcome(viaRequest.channels.get('rest:request').publish('m', 'by-request'), 10000, 'publish via the TokenRequest');
  const replayer = noKey(p, { authCallback: (_params, cb) => cb(null, request) });
  const replayPublish = await outcome(replayer.channels.get('rest:request').publish('m', 'replayed'), 10000, 'publish via a replayed TokenRequest');
  const requestHistory = await historyOf(keyed, 'rest:request');

  const useTokenAuth = rest(p, { useTokenAuth: true, clientId: 'gail' });
  const useTokenPublish = await outcome(useTokenAuth.channels.get('rest:use-token-auth').publish('m', 'use-token-auth'), 10000, 'publish with useTokenAuth');
  const useTokenHistory = await historyOf(keyed, 'rest:use-token-auth');
  const useTokenDetails = useTokenAuth.auth.tokenDetails;

  const tooLong = await outcome(keyed.auth.requestToken({ ttl: 25 * 3600 * 1000 }), 10000, 'requestToken with a 25 h ttl');

  return {
    details,
    request,
    tokenPublish,
    tokenDenied,
    tokenHistory,
    requestPublish,
    replayPublish,
    requestHistory,
    useTokenPublish,
    useTokenHistory,
    useTokenMethod: useTokenAuth.auth.method,
    useTokenDetails: useTokenDetails ? { clientId: useTokenDetails.clientId ?? null, lifetime: useTokenDetails.expires - useTokenDetails.issued } : null,
    tooLong,
  };
});
