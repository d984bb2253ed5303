// Idempotent publishing with ably-js: a message id the broker has stored on the channel within
// the dedup window is not stored again, and the repeat is answered like the first publish.
// REST: ably-js gives id-less REST messages `<base>:<index>` ids (idempotentRestPublishing); an
// application retrying a publish sends the same ids again. Realtime: explicit ids.
import { scenario, realtime, rest, connected, collector, withTimeout, closeAll } from '../../interop/js/lib.mjs';

scenario(async (p) => {
  const sub = await connected(realtime(p));
  const got = await collector(sub.channels.get(p.channel), 'sub');
  const restCh = rest(p).channels.get(p.channel);

  const auto = await restCh.publish('auto', 'generated-id');
  const batch = [{ name: 'rest', data: 'r-0', id: 'retry:0' }, { name: 'rest', data: 'r-1', id: 'retry:1' }];
  const first = await restCh.publish(batch);
  const retry = await restCh.publish(batch);
  const overlap = await restCh.publish([{ name: 'rest', data: 'r-1', id: 'retry:1' },
    { name: 'rest', data: 'r-2', id: 'retry:2' }]);

  const pub = await connected(realtime(p));
  const rtCh = pub.channels.get(p.channel);
  const rtFirst = await withTimeout(rtCh.publish({ name: 'rt', data: 'x', id: 'rt-explicit' }), 10000, 'ACK');
  const rtRepeat = await withTimeout(rtCh.publish({ name: 'rt', data: 'x', id: 'rt-explicit' }), 10000, 'ACK');
  const marker = await withTimeout(rtCh.publish('marker', 'end'), 10000, 'ACK');
  await got.untilData('end');

  const result = {
    auto: auto.serials,
    first: first.serials,
    retry: retry.serials,
    overlap: overlap.serials,
    rtFirst: rtFirst.serials,
    rtRepeat: rtRepeat.serials,
    marker: marker.serials,
    received: got.list.map((m) => [m.data.value, m.id, m.serial]),
  };
  await closeAll();
  return result;
});
