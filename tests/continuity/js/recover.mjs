// Recover (a page reload): client A, reached through a proxy, has received and published; its
// recovery key is taken and its link dropped for good. A new client B starts with
// `recover: key`: it must get A's connectionId back (no error), continue A's msgSerials
// (its publishes are new, not taken for A's), and its channel, pre-set from the key, must
// attach RESUMED and deliver what was published while nobody was connected, once, in order.
// With `forget`, the key names a connection the broker does not know: B gets a new
// connectionId and the error, and channel continuity still holds through the channelSerial.
import { scenario, realtime, connected, collector, withTimeout, track, closeAll } from '../../interop/js/lib.mjs';

const range = (n, from = 0) => Array.from({ length: n }, (_, i) => from + i);

async function control(url, action) {
  const res = await fetch(`${url}/${action}`);
  if (!res.ok) throw new Error(`proxy ${action} answered ${res.status}`);
}

scenario(async (p) => {
  const pub = await connected(realtime(p));
  const pubCh = pub.channels.get(p.channel);
  const publish = (from, n = p.batch) =>
    withTimeout(Promise.all(range(n, from).map((i) => pubCh.publish('seq', `m-${i}`))), 10000, 'publish ACKs');

  const a = await connected(realtime({ ...p, port: p.proxyPort }));
  const aCh = a.channels.get(p.channel);
  const aGot = await collector(aCh, 'a');
  await publish(0);
  await aGot.until(p.batch);
  for (const i of range(3)) await aCh.publish('own', `a-${i}`);
  await aGot.untilData('a-2');
  const recoveryKey = JSON.parse(a.connection.createRecoveryKey());
  const down = new Promise((resolve) => a.connection.once('disconnected', resolve));
  await control(p.controlUrl, 'drop');
  await withTimeout(down, 10000, 'A to lose its link');
  await publish(p.batch);

  if (p.forget) recoveryKey.connectionKey = 'AbCdEfGhIj!forgottenforgottenforgot';
  const b = realtime(p, { recover: JSON.stringify(recoveryKey) });
  const bCh = b.channels.get(p.channel);
  const states = track(b, 'b', [bCh]);
  await connected(b);
  const bGot = await collector(bCh, 'b');
  await bGot.untilData(`m-${2 * p.batch - 1}`);
  const bAcks = [];
  for (const i of range(2)) bAcks.push(await bCh.publish('own', `b-${i}`));
  await publish(2 * p.batch);
  await bGot.untilData(`m-${3 * p.batch - 1}`);

  const result = {
    recoveryKey,
    idA: recoveryKey.connectionKey.split('!')[0],
    realIdA: a.connection.id,
    idB: b.connection.id,
    errorB: b.connection.errorReason?.code ?? null,
    received: bGot.list.map((m) => m.data.value),
    bAcks: bAcks.map((r) => r?.serials?.[0] ?? null),
    states: [...states],
  };
  await closeAll();
  return result;
});
