// Scenario 4: `backlog` messages are published, then subscribers attach with rewind given as a
// count (channel params), as a duration, and as a channel-name qualifier; each must receive
// its backlog and then the `live` messages published after every subscriber is attached.
import { scenario, realtime, connected, collector, withTimeout, closeAll } from './lib.mjs';

const range = (n) => Array.from({ length: n }, (_, i) => i);

scenario(async (p) => {
  const pub = await connected(realtime(p));
  const ch = pub.channels.get(p.channel);
  await withTimeout(Promise.all(range(p.backlog).map((i) => ch.publish('old', `old-${i}`))), 10000, 'backlog ACKs');

  const subscribers = [];
  for (const s of p.subscribers) {
    const client = await connected(realtime(p));
    const channel = client.channels.get(s.channelName, s.params ? { params: s.params } : {});
    const attached = new Promise((resolve) => channel.once('attached', resolve));
    const coll = await collector(channel, s.label);
    const change = await withTimeout(attached, 10000, `${s.label} ATTACHED`);
    await coll.until(s.expectBacklog);
    subscribers.push({ s, channel, coll, change });
  }
  const lastLive = `live-${p.live - 1}`;
  await withTimeout(Promise.all(range(p.live).map((i) => ch.publish('live', `live-${i}`))), 10000, 'live ACKs');
  const results = {};
  for (const { s, channel, coll, change } of subscribers) {
    await coll.untilData(lastLive);
    results[s.label] = {
      received: coll.list.map((m) => m.data.value),
      serials: coll.list.map((m) => m.serial),
      resumed: change.resumed,
      hasBacklog: change.hasBacklog ?? null,
      reason: change.reason?.code ?? null,
      params: channel.params ?? null,
    };
  }
  await closeAll();
  return results;
});
