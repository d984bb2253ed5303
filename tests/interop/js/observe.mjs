// Channel enumeration through ably-js `request('get', '/channels')` (prefix, limit, Link pages)
// and app stats through `stats()`, after real realtime traffic.
import { scenario, realtime, rest, connected, closeAll, progress } from './lib.mjs';

scenario(async (p) => {
  const client = realtime(p);
  await connected(client);
  for (const name of p.channels) {
    await client.channels.get(name).attach();
  }
  const channel = client.channels.get(p.channels[0]);
  for (let i = 0; i < p.publish; i++) {
    await channel.publish('n', `m${i}`);
  }
  progress.published = p.publish;
  const api = rest(p);
  const pages = [];
  let page = await api.request('get', '/channels', 3, { prefix: p.prefix, limit: p.limit, by: 'id' });
  for (;;) {
    pages.push({ statusCode: page.statusCode, items: page.items });
    if (!page.hasNext() || pages.length > 20) break;
    page = await page.next();
  }
  const details = await api.request('get', '/channels', 3, { prefix: p.channels[0] });
  const stats = {};
  for (const unit of ['minute', 'hour']) {
    const result = await api.stats({ unit, limit: 100 });
    stats[unit] = result.items.map((s) => ({ intervalId: s.intervalId, unit: s.unit, appId: s.appId, entries: s.entries }));
  }
  await closeAll();
  return { pages, details: details.items, stats };
});
