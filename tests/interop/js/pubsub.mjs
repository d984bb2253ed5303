// Scenario 2: A publishes singles and one batch, B (maybe another format) receives them all in
// order. A connects with echoMessages:false and is attached too: it must never see its own
// messages. C publishes without attaching (transient publish). B's final marker proves, by the
// channel's single order, that anything A could have been echoed would have arrived already.
import { scenario, realtime, connected, collector, makeMessage, withTimeout, closeAll } from './lib.mjs';

scenario(async (p) => {
  const a = await connected(realtime(p, { format: p.formatA, echoMessages: false }));
  const b = await connected(realtime(p, { format: p.formatB }));
  const c = await connected(realtime(p, { format: p.formatA }));
  const chA = a.channels.get(p.channel);
  const chB = b.channels.get(p.channel);
  const toB = await collector(chB, 'b');
  const toA = await collector(chA, 'a');

  const singles = p.messages.map((m) => chA.publish(makeMessage(m)));
  const batch = chA.publish(p.batch.map(makeMessage));
  const publishResults = await withTimeout(Promise.all([...singles, batch]), 10000, "ACKs for A's publishes");
  const transientResult = await withTimeout(c.channels.get(p.channel).publish('transient', 'from-c'), 10000, "ACK for C's transient publish");
  const markerResult = await withTimeout(chB.publish('marker', 'from-b'), 10000, "ACK for B's marker");
  await toB.untilData('from-b');
  await toA.untilData('from-b');
  const ids = { a: a.connection.id, b: b.connection.id, c: c.connection.id };
  const modes = chB.modes ?? null;
  const transientChannelState = c.channels.get(p.channel).state;
  await closeAll();
  return {
    publishResults,
    transientResult,
    markerResult,
    receivedByB: toB.list,
    receivedByA: toA.list,
    transientChannelState,
    connectionIds: ids,
    modesOfB: modes,
  };
});
