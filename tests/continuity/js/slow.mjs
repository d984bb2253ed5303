// A slow consumer among fast ones. Three fast subscribers connect directly; the slow one goes
// through a proxy the scenario stalls (nothing flows, the sockets stay open), so the broker's
// writes to it pile up. The publisher sends `count` messages of `size` bytes, a few at a time.
// The broker must cut the slow one off (DISCONNECTED 80003) once its outbound buffer is over
// the limit, while the fast ones get everything without interruption. Then the proxy flows
// again: the slow client reads what was queued, the DISCONNECTED, resumes, re-attaches from its
// channelSerial, and catches up from the log: every message once, in order.
import { scenario, realtime, connected, collector, withTimeout, track, closeAll } from '../../interop/js/lib.mjs';

async function control(url, action) {
  const res = await fetch(`${url}/${action}`);
  if (!res.ok) throw new Error(`proxy ${action} answered ${res.status}`);
}

function percentile(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null;
}

scenario(async (p) => {
  const fast = [];
  for (let i = 0; i < p.fast; i++) {
    const client = await connected(realtime(p));
    const channel = client.channels.get(p.channel);
    const latencies = [];
    channel.subscribe((msg) => latencies.push(Date.now() - msg.timestamp));
    fast.push({ client, states: track(client, `fast${i}`), got: await collector(channel, `fast${i}`), latencies });
  }
  const slow = await connected(realtime({ ...p, port: p.proxyPort }, { disconnectedRetryTimeout: 200 }));
  const slowCh = slow.channels.get(p.channel);
  const slowStates = track(slow, 'slow', [slowCh]);
  const slowGot = await collector(slowCh, 'slow');
  const slowId = slow.connection.id;
  const pub = await connected(realtime(p));
  const pubCh = pub.channels.get(p.channel);

  await control(p.controlUrl, 'stall');
  const started = Date.now();
  const padding = 'x'.repeat(p.size);
  const inflight = new Set();
  for (let i = 0; i < p.count; i++) {
    if (inflight.size >= p.window) await Promise.race(inflight);
    const done = pubCh.publish('seq', `m-${i}-${padding}`);
    inflight.add(done);
    done.finally(() => inflight.delete(done));
  }
  await withTimeout(Promise.all(inflight), 30000, 'every publish to be acknowledged');
  const last = `m-${p.count - 1}-${padding}`;
  await Promise.all(fast.map((f) => f.got.untilData(last, 30000)));
  const fastDone = Date.now() - started;

  await control(p.controlUrl, 'unstall');
  await slowGot.untilData(last, 30000);

  const short = (list) => list.map((m) => m.data.value.split('-').slice(0, 2).join('-'));
  const result = {
    fastMs: fastDone,
    fast: fast.map((f) => {
      const sorted = [...f.latencies].sort((a, b) => a - b);
      return { received: short(f.got.list), states: [...f.states],
        p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] };
    }),
    slow: { received: short(slowGot.list), states: [...slowStates], idBefore: slowId, idAfter: slow.connection.id },
  };
  await closeAll();
  return result;
});
