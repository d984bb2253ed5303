// Cut/resume cycles during a continuous stream (ably-js through proxies the scenario cuts).
//
// One publisher and `subscribers` subscribers each reach the broker through their own TcpProxy.
// The publisher streams `m-0, m-1, ...` with up to `window` publishes awaiting their ACKs; each
// client, independently, waits a moment and has its proxy cut every live socket (an RST, no
// close handshake), then waits for the SDK to resume, `cyclesEach` times. ably-js reconnects at
// most once a second, so clients cycle in parallel to make `cycles` cuts in about 25 s.
// The publisher's in-flight publishes are re-sent after each resume (same msgSerials); the
// subscribers re-attach with their channelSerials. Everything is recorded for the test.
import { scenario, realtime, connected, collector, withTimeout, closeAll, progress } from '../../interop/js/lib.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function control(url, action) {
  const res = await fetch(`${url}/${action}`);
  if (!res.ok) throw new Error(`proxy ${action} answered ${res.status}`);
}

/** Record channel state changes; an `update` (previous === current) is a discontinuity while attached. */
function channelEvents(channel) {
  const events = [];
  channel.on((change) => {
    events.push({ from: change.previous, to: change.current, resumed: change.resumed,
      reason: change.reason?.code ?? null });
  });
  return events;
}

/** Cut `client`'s proxy `times` times; each time wait for the resumed connection (and channel). */
async function cycle(label, client, proxy, times, pauseMs, log) {
  for (let k = 0; k < times; k++) {
    await sleep(pauseMs[0] + Math.random() * (pauseMs[1] - pauseMs[0]));
    const idBefore = client.connection.id;
    const down = new Promise((resolve) => client.connection.once('disconnected', resolve));
    const up = new Promise((resolve) => client.connection.once('connected', resolve));
    await control(proxy.controlUrl, 'cut');
    const downChange = await withTimeout(down, 10000, `${label} to notice cut ${k}`);
    const upChange = await withTimeout(up, 15000, `${label} to resume after cut ${k}`);
    log.push({ client: label, cycle: k, idBefore, idAfter: client.connection.id,
      downReason: downChange.reason?.code ?? null, upReason: upChange.reason?.code ?? null });
  }
}

scenario(async (p) => {
  const options = { disconnectedRetryTimeout: 200 };
  const pub = await connected(realtime({ ...p, port: p.publisherProxy.port }, options));
  const pubCh = pub.channels.get(p.channel);
  const subs = [];
  for (const [i, proxy] of p.subscriberProxies.entries()) {
    const client = await connected(realtime({ ...p, port: proxy.port }, options));
    const channel = client.channels.get(p.channel);
    const events = channelEvents(channel);
    subs.push({ client, channel, events, proxy, got: await collector(channel, `sub${i}`) });
  }

  const acks = [];
  const nacks = [];
  let published = 0;
  let streaming = true;
  const inflight = new Set();
  const stream = (async () => {
    while (streaming) {
      if (inflight.size >= p.window) await Promise.race(inflight);
      const i = published++;
      const done = pubCh.publish('seq', `m-${i}`).then(
        (result) => { acks[i] = result?.serials?.[0] ?? null; },
        (err) => { nacks.push({ i, code: err.code ?? null, message: err.message }); },
      );
      inflight.add(done);
      done.finally(() => inflight.delete(done));
      await sleep(p.intervalMs);
    }
  })();

  const cycles = [];
  progress.cycles = cycles;
  await Promise.all([
    cycle('publisher', pub, p.publisherProxy, p.cyclesEach, p.pauseMs, cycles),
    ...subs.map((s, i) => cycle(`sub${i}`, s.client, s.proxy, p.cyclesEach, p.pauseMs, cycles)),
  ]);
  streaming = false;
  await stream;
  await withTimeout(Promise.all(inflight), 20000, 'the last publishes to be acknowledged');
  const last = `m-${published - 1}`;
  await Promise.all(subs.map((s) => s.got.untilData(last, 20000)));

  const result = {
    published,
    acks,
    nacks,
    cycles,
    subscribers: subs.map((s) => ({
      received: s.got.list.map((m) => m.data.value),
      serials: s.got.list.map((m) => m.serial),
      connectionId: s.client.connection.id,
      events: [...s.events],
    })),
    publisherId: pub.connection.id,
  };
  await closeAll();
  return result;
});
