// Scenario 8: errors as the SDK reports them. An invalid channel name (publish, attach, REST
// publish) must give 40010; an oversize publish must give 40009, first from ably-js's own
// check against the broker's advertised maxMessageSize, then (with that check lifted) from
// the broker itself, over realtime (NACK) and REST. The connection must survive all of it.
import { scenario, realtime, rest, connected, errorJson, withTimeout, closeAll } from './lib.mjs';

const outcome = (promise, what) =>
  withTimeout(promise, 10000, what).then(
    (value) => ({ ok: true, value: value ?? null }),
    (err) => ({ ok: false, error: errorJson(err) }),
  );

scenario(async (p) => {
  const client = await connected(realtime(p));
  const bad = client.channels.get(p.badChannel);
  const publishBadName = await outcome(bad.publish('x', 'y'), 'publish to an invalid channel');
  const attachBadName = await outcome(bad.attach(), 'attach to an invalid channel');
  const badChannelState = bad.state;

  const ch = client.channels.get(p.channel);
  const big = 'x'.repeat(p.oversize);
  const advertisedMaxMessageSize = client.options.maxMessageSize;
  const clientSideOversize = await outcome(ch.publish('big', big), 'client-side oversize check');
  // Lift the SDK's own limit (it was copied from connectionDetails) so the broker has to judge.
  client.options.maxMessageSize = 64 * 1024 * 1024;
  const brokerOversize = await outcome(ch.publish('big', big), 'the broker to refuse an oversize publish');
  const afterwards = await outcome(ch.publish('ok', 'still-working'), 'a normal publish after the errors');
  const connectionState = client.connection.state;

  const r = rest(p, { maxMessageSize: 64 * 1024 * 1024 });
  const restBadName = await outcome(r.channels.get(p.badChannel).publish('x', 'y'), 'REST publish to an invalid channel');
  const restOversize = await outcome(r.channels.get(p.channel).publish('big', big), 'REST oversize publish');
  const history = await outcome(
    r.channels.get(p.channel).history({ limit: 10 }).then((page) => page.items.map((m) => m.name)),
    'REST history',
  );
  await closeAll();
  return {
    publishBadName,
    attachBadName,
    badChannelState,
    advertisedMaxMessageSize,
    clientSideOversize,
    brokerOversize,
    afterwards,
    connectionState,
    restBadName,
    restOversize,
    history,
  };
});
