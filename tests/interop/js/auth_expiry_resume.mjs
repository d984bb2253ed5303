// Auth scenario: a renewal that comes too late. The subscriber's authCallback (JWT, p.ttlMs) is
// slow (p.slowMs) from its second call on, so the token expires while the SDK is still fetching
// its replacement: the broker disconnects with 40142, and ably-js must get a token and resume
// the same connection, its channel continuing from where it was. A key-holding REST client
// publishes a numbered message every p.intervalMs throughout; the subscriber must see each
// exactly once, in order.
import { scenario, realtime, rest, connected, collector, closeAll, track, errorJson, withTimeout } from './lib.mjs';
import { credentials, signJwt } from './auth_lib.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

scenario(async (p) => {
  let calls = 0;
  const { options } = credentials(p, 'jwt');
  const client = realtime(p, {
    ...options,
    authCallback: (_params, cb) => {
      calls += 1;
      const token = signJwt(p.key, { clientId: 'late', capability: p.capability, ttlMs: p.ttlMs });
      setTimeout(() => cb(null, token), calls === 1 ? 0 : p.slowMs);
    },
  });
  const channel = client.channels.get(p.channel);
  const states = track(client, 'client', [channel]);
  await connected(client);
  const idBefore = client.connection.id;
  const received = await collector(channel);

  const publisher = rest(p).channels.get(p.channel);
  const publishes = [];
  const start = Date.now();
  let sent = 0;
  const expired = () => states.some((s) => s.reason === 40142);
  while ((Date.now() - start < p.durationMs || !expired()) && Date.now() - start < p.maxDurationMs) {
    publishes.push(publisher.publish('n', String(sent)));
    sent += 1;
    await sleep(p.intervalMs);
  }
  const settled = await withTimeout(Promise.allSettled(publishes), 10000, 'every REST publish to settle');
  const publishErrors = settled.filter((s) => s.status === 'rejected').map((s) => errorJson(s.reason));
  await withTimeout(client.connection.whenState('connected'), 10000, 'CONNECTED again');
  await received.until(sent);
  const result = {
    sent,
    publishErrors,
    received: received.list.map((m) => m.data.value),
    idBefore,
    idAfter: client.connection.id,
    tokenCalls: calls,
    states,
    channelState: channel.state,
  };
  await closeAll();
  return result;
});
