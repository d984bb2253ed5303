// Scenario 5: a subscriber reaches the broker through a proxy that the scenario cuts (sockets
// die, new connections are refused) while a publisher on a direct connection keeps publishing;
// after the proxy is restored the subscriber reconnects (resume or not) and re-attaches with its
// channelSerial, and must end up with every message exactly once, in order. With
// `forgetResumeKey` the subscriber presents a resume key the broker never issued, as when the
// broker lost the connection's state: the resume must fail (new connectionId, with an error)
// and continuity then rests on the channelSerial re-attach alone.
import { scenario, realtime, connected, collector, withTimeout, track, closeAll } from './lib.mjs';

const range = (n, from = 0) => Array.from({ length: n }, (_, i) => from + i);

async function control(url, action) {
  const res = await fetch(`${url}/${action}`);
  if (!res.ok) throw new Error(`proxy ${action} answered ${res.status}`);
}

scenario(async (p) => {
  const pub = await connected(realtime(p));
  const sub = await connected(realtime({ ...p, port: p.proxyPort }, { disconnectedRetryTimeout: 250 }));
  const pubCh = pub.channels.get(p.channel);
  const subCh = sub.channels.get(p.channel);
  const states = track(sub, 'sub', [subCh]);
  const got = await collector(subCh, 'sub');
  const publish = (from) =>
    withTimeout(Promise.all(range(p.batch, from).map((i) => pubCh.publish('seq', `m-${i}`))), 10000, 'publish ACKs');

  const idBefore = sub.connection.id;
  await publish(0);
  await got.until(p.batch);

  const down = new Promise((resolve) => sub.connection.once('disconnected', resolve));
  await control(p.controlUrl, 'drop');
  const downChange = await withTimeout(down, 10000, 'the subscriber to notice the cut');
  await publish(p.batch);

  if (p.forgetResumeKey) {
    // The SDK sends this as `resume=` on its next connection attempt (internal field).
    sub.connection.connectionManager.connectionKey = 'unknown-connection!key';
  }
  const up = new Promise((resolve) => sub.connection.once('connected', resolve));
  await control(p.controlUrl, 'restore');
  const upChange = await withTimeout(up, 15000, 'the subscriber to reconnect');
  await got.untilData(`m-${2 * p.batch - 1}`);
  await publish(2 * p.batch);
  await got.untilData(`m-${3 * p.batch - 1}`);

  const result = {
    received: got.list.map((m) => m.data.value),
    serials: got.list.map((m) => m.serial),
    idBefore,
    idAfter: sub.connection.id,
    downReason: downChange.reason?.code ?? null,
    upReason: upChange.reason?.code ?? null,
    channelState: subCh.state,
    states,
  };
  await closeAll();
  return result;
});
