// Scenario 3: publish `total` messages, then page through history both ways, from a realtime
// client and a REST client; then `untilAttach` from a subscriber attached after those
// messages, while `live` more arrive after its attach point.
import { scenario, realtime, rest, connected, collector, allPages, withTimeout, closeAll } from './lib.mjs';

const view = (m) => [m.data, m.serial, m.name];
const range = (n) => Array.from({ length: n }, (_, i) => i);

scenario(async (p) => {
  const pub = await connected(realtime(p));
  const ch = pub.channels.get(p.channel);
  const publishResults = await withTimeout(
    Promise.all(range(p.total).map((i) => ch.publish(`n${i}`, `m-${i}`))),
    20000,
    `ACKs for ${p.total} publishes`,
  );
  const backwards = await allPages(await ch.history({ limit: p.limit }), view);
  const forwards = await allPages(await ch.history({ limit: p.limit, direction: 'forwards' }), view);
  const restForwards = await allPages(
    await rest(p).channels.get(p.channel).history({ limit: p.limit, direction: 'forwards' }),
    view,
  );

  const sub = await connected(realtime(p));
  const subCh = sub.channels.get(p.channel);
  const live = await collector(subCh, 'live');
  const attachSerial = subCh.properties.attachSerial ?? null;
  await withTimeout(Promise.all(range(p.live).map((i) => ch.publish('live', `live-${i}`))), 10000, 'live ACKs');
  await live.until(p.live);
  const untilAttach = await allPages(await subCh.history({ untilAttach: true, limit: p.limit }), view);
  await closeAll();
  return {
    publishSerials: publishResults.map((r) => r.serials),
    backwards,
    forwards,
    restForwards,
    attachSerial,
    live: live.list.map((m) => [m.data.value, m.serial]),
    untilAttach,
  };
});
