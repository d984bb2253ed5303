// Read a channel's whole history (forwards), then subscribe and receive `live` new messages
// from another client: what a client sees after the broker restarted on the same database.
import { scenario, realtime, connected, collector, allPages, withTimeout, closeAll } from './lib.mjs';

scenario(async (p) => {
  const sub = await connected(realtime(p));
  const ch = sub.channels.get(p.channel);
  const pages = await allPages(await ch.history({ direction: 'forwards', limit: 100 }), (m) => [m.data, m.serial]);
  const got = await collector(ch, 'live');
  const pub = await connected(realtime(p));
  const pubCh = pub.channels.get(p.channel);
  const results = await withTimeout(
    Promise.all(Array.from({ length: p.live }, (_, i) => pubCh.publish('seq', `${p.prefix}-${i}`))),
    10000,
    'publish ACKs',
  );
  await got.until(p.live);
  await closeAll();
  return {
    history: pages.flatMap((page) => page.items),
    pageCount: pages.length,
    live: got.list.map((m) => [m.data.value, m.serial]),
    publishSerials: results.map((r) => r.serials[0]),
  };
});
