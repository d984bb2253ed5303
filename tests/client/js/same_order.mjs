// ably-js side of the shared-channel order test: attach, announce readiness, publish a burst
// while the Python client publishes its own, then report every message seen in arrival order.
import { scenario, realtime, connected, collector, withTimeout, closeAll } from '../../interop/js/lib.mjs';

scenario(async (p) => {
  const client = await connected(realtime(p));
  const channel = client.channels.get(p.channel);
  const received = await collector(channel, 'js');
  await withTimeout(channel.publish('ready', 'js-ready'), 10000, 'ACK for the ready marker');
  const burst = [];
  for (let i = 0; i < p.count; i++) burst.push(channel.publish('js', `js-${i}`));
  const results = await withTimeout(Promise.all(burst), 15000, 'ACKs for the burst');
  await withTimeout(channel.publish('done', 'js-done'), 10000, 'ACK for the done marker');
  await received.untilData('js-done', 20000);
  await received.untilData('py-done', 20000);
  const list = received.list;
  await closeAll();
  return { received: list, serials: results.map((r) => r.serials[0]) };
});
