// Resume after connectionStateTtl: the subscriber's link is down longer than the TTL the broker
// advertised, so ably-js goes SUSPENDED and the broker forgets the connection. When the link
// comes back the resume must fail the way the SDK expects (new connectionId, error on
// CONNECTED), and the suspended channel must re-attach from its channelSerial with RESUMED:
// every message published while it was away arrives once, in order, then live ones follow.
import { scenario, realtime, connected, collector, withTimeout, track, closeAll } from '../../interop/js/lib.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const range = (n, from = 0) => Array.from({ length: n }, (_, i) => from + i);

async function control(url, action) {
  const res = await fetch(`${url}/${action}`);
  if (!res.ok) throw new Error(`proxy ${action} answered ${res.status}`);
}

scenario(async (p) => {
  const pub = await connected(realtime(p));
  const sub = await connected(realtime({ ...p, port: p.proxyPort },
    { disconnectedRetryTimeout: 200, suspendedRetryTimeout: 300 }));
  const pubCh = pub.channels.get(p.channel);
  const subCh = sub.channels.get(p.channel);
  const states = track(sub, 'sub', [subCh]);
  const got = await collector(subCh, 'sub');
  const publish = (from) =>
    withTimeout(Promise.all(range(p.batch, from).map((i) => pubCh.publish('seq', `m-${i}`))), 10000, 'publish ACKs');

  const idBefore = sub.connection.id;
  const ttl = sub.connection.connectionManager.connectionStateTtl;
  await publish(0);
  await got.until(p.batch);

  const suspended = new Promise((resolve) => sub.connection.once('suspended', resolve));
  await control(p.controlUrl, 'drop');
  await withTimeout(suspended, ttl + 15000, 'the subscriber to give up resuming (SUSPENDED)');
  await publish(p.batch);
  await sleep(ttl / 2); // margin for the broker's own TTL timer, which the client cannot observe

  const up = new Promise((resolve) => sub.connection.once('connected', resolve));
  await control(p.controlUrl, 'restore');
  const upChange = await withTimeout(up, 15000, 'the subscriber to reconnect');
  await got.untilData(`m-${2 * p.batch - 1}`);
  await publish(2 * p.batch);
  await got.untilData(`m-${3 * p.batch - 1}`);

  const result = {
    ttl,
    received: got.list.map((m) => m.data.value),
    idBefore,
    idAfter: sub.connection.id,
    upReason: upChange.reason?.code ?? null,
    channelState: subCh.state,
    states: [...states],
  };
  await closeAll();
  return result;
});
