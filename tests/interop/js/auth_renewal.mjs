// Auth scenario: short-lived tokens renewed while a stream flows. A publisher (authCallback ->
// JWT signed here) and a subscriber (authCallback -> TokenRequest, exchanged at the broker), both
// with tokens living p.ttlMs, are attached to one channel; the publisher speaks msgpack and the
// subscriber JSON, so in-band AUTH is exercised in both wire formats. The publisher publishes a numbered
// message every p.intervalMs (without awaiting each ACK, so publishes are in flight whenever a
// renewal happens) until p.durationMs has passed and each client has renewed at least
// p.minRenewals times. The broker drives renewal (AUTH before expiry); the SDKs answer with a
// new token on the same connection. Both clients must see every message exactly once, in order.
import { scenario, realtime, connected, collector, closeAll, track, errorJson, withTimeout } from './lib.mjs';
import { credentials } from './auth_lib.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

scenario(async (p) => {
  const pub = credentials({ ...p, clientId: 'publisher' }, 'jwt', { format: 'msgpack' });
  const sub = credentials({ ...p, clientId: 'subscriber' }, 'tokenRequest', { format: 'json' });
  const publisher = realtime(p, pub.options);
  const subscriber = realtime(p, sub.options);
  const pubStates = track(publisher, 'publisher');
  const subStates = track(subscriber, 'subscriber');
  await Promise.all([connected(publisher), connected(subscriber)]);
  const ids = { publisher: publisher.connection.id, subscriber: subscriber.connection.id };

  const subChannel = subscriber.channels.get(p.channel);
  const pubChannel = publisher.channels.get(p.channel);
  const bySubscriber = await collector(subChannel, 'bySubscriber');
  const byPublisher = await collector(pubChannel, 'byPublisher');

  const start = Date.now();
  const renewals = (counter) => counter.calls - 1;
  const publishes = [];
  let sent = 0;
  while (Date.now() - start < p.durationMs || renewals(pub.counter) < p.minRenewals || renewals(sub.counter) < p.minRenewals) {
    if (Date.now() - start > p.maxDurationMs) break;
    publishes.push(pubChannel.publish('n', String(sent)));
    sent += 1;
    await sleep(p.intervalMs);
  }
  const streamMs = Date.now() - start;
  const settled = await withTimeout(Promise.allSettled(publishes), 10000, 'every publish to settle');
  const publishErrors = settled.filter((s) => s.status === 'rejected').map((s) => errorJson(s.reason));
  await Promise.all([bySubscriber.until(sent), byPublisher.until(sent)]);

  const view = (list) => list.map((m) => ({ data: m.data.value, serial: m.serial, clientId: m.clientId }));
  const result = {
    sent,
    streamMs,
    publishErrors,
    bySubscriber: view(bySubscriber.list),
    byPublisher: view(byPublisher.list),
    idsBefore: ids,
    idsAfter: { publisher: publisher.connection.id, subscriber: subscriber.connection.id },
    tokenCalls: {
      publisher: pub.counter.times.map((t) => t - start),
      subscriber: sub.counter.times.map((t) => t - start),
    },
    pubStates,
    subStates,
    channelStates: { publisher: pubChannel.state, subscriber: subChannel.state },
  };
  await closeAll();
  return result;
});
