// Auth scenario: what ably-js reports when the broker refuses (p.case):
//   capability       a token allowing only subscribe on ro:* — publish (unattached, attached,
//                    REST) and attach outside ro:* must fail with 40160; the connection lives on
//   clientIdMismatch clientId option 'bob' with a token bound to 'alice': the broker refuses a JWT
//                    string (it has no clientId the SDK can see); ably-js itself checks a TokenDetails
//   expiredLiteral   a literal `token` that has already expired: nothing can renew it
//   literalExpires   a literal `token` that expires while connected
import { scenario, realtime, rest, connected, closeAll, track, errorJson, withTimeout, progress } from './lib.mjs';
import { credentials, outcome, signJwt } from './auth_lib.mjs';

const failedState = (client, ms, what) =>
  withTimeout(client.connection.whenState('failed'), ms, what).then(() => ({
    state: client.connection.state,
    reason: errorJson(client.connection.errorReason),
  }));

async function capability(p) {
  const client = realtime(p, credentials(p, 'jwt').options);
  const states = track(client, 'client');
  await connected(client);
  const readonly = client.channels.get('ro:1');
  const publishUnattached = await outcome(readonly.publish('x', 'unattached'), 10000, 'publish without attaching');
  const attachReadonly = await outcome(readonly.attach().then(() => readonly.modes), 10000, 'attach ro:1');
  const publishAttached = await outcome(readonly.publish('x', 'attached'), 10000, 'publish while attached');
  const secret = client.channels.get('secret:1');
  const attachSecret = await outcome(secret.attach(), 10000, 'attach secret:1');
  const restClient = rest(p, credentials(p, 'jwt').options);
  const restPublish = await outcome(restClient.channels.get('ro:1').publish('x', 'rest'), 10000, 'REST publish');
  const result = {
    publishUnattached, attachReadonly, publishAttached, attachSecret, restPublish,
    secretState: secret.state, secretReason: errorJson(secret.errorReason),
    connectionState: client.connection.state, connectionId: client.connection.id, states,
  };
  await closeAll();
  return result;
}

async function clientIdMismatch(p) {
  const viaBroker = realtime(p, credentials(p, 'jwt', { clientId: 'bob' }).options);
  const broker = await failedState(viaBroker, 10000, 'FAILED after the broker refuses the clientId');
  progress.broker = broker;
  // With TokenDetails ably-js compares the clientIds itself and never opens a socket; 2.28.0
  // then goes DISCONNECTED (and would retry), not FAILED.
  const viaSdk = realtime(p, credentials(p, 'tokenDetails', { clientId: 'bob' }).options);
  const change = await withTimeout(new Promise((resolve) => viaSdk.connection.on((c) => c.reason && resolve(c))),
    10000, 'a connection state change with a reason after ably-js compares the clientIds');
  const sdk = { state: change.current, reason: errorJson(change.reason) };
  await closeAll();
  return { broker, sdk };
}

async function expiredLiteral(p) {
  const token = signJwt(p.key, { clientId: 'alice', ttlMs: 1000, issuedMs: Date.now() - 60000 });
  const client = realtime(p, { key: undefined, token });
  const states = track(client, 'client');
  const viaRealtime = await failedState(client, 10000, 'FAILED with an expired literal token');
  const restClient = rest(p, { key: undefined, token });
  const viaRest = await outcome(restClient.channels.get('auth:literal').publish('x', 'y'), 10000, 'REST publish with an expired literal token');
  return { realtime: viaRealtime, rest: viaRest, states };
}

async function literalExpires(p) {
  const token = signJwt(p.key, { clientId: 'alice', ttlMs: p.ttlMs });
  const client = realtime(p, { key: undefined, token });
  const states = track(client, 'client');
  await connected(client);
  const connectedAt = Date.now();
  const failed = await failedState(client, p.ttlMs + 5000, 'FAILED once the literal token runs out');
  return { ...failed, failedAfterMs: Date.now() - connectedAt, states };
}

const cases = { capability, clientIdMismatch, expiredLiteral, literalExpires };

scenario(async (p) => {
  const run = cases[p.case];
  if (!run) throw new Error(`unknown case ${p.case}`);
  return run(p);
});
