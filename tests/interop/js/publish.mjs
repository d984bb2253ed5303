// Publish `count` messages with data `<prefix>-<i>` and report the serials the ACKs carried.
import { scenario, realtime, connected, withTimeout, closeAll } from './lib.mjs';

scenario(async (p) => {
  const client = await connected(realtime(p));
  const ch = client.channels.get(p.channel);
  const results = await withTimeout(
    Promise.all(Array.from({ length: p.count }, (_, i) => ch.publish('seq', `${p.prefix}-${i}`))),
    10000,
    'publish ACKs',
  );
  await closeAll();
  return { serials: results.map((r) => r.serials[0]) };
});
