// Ephemeral messages through ably-js: `extras.ephemeral: true` reaches live subscribers (realtime
// and REST publishes) but never history or a rewind; a batch mixing them with stored ones fails.
import { scenario, realtime, rest, connected, closeAll, collector, errorJson, withTimeout } from './lib.mjs';

const eph = { ephemeral: true };

scenario(async (p) => {
  const publisher = await connected(realtime(p, { clientId: 'agent' }));
  const watcher = await connected(realtime(p));
  const channel = publisher.channels.get(p.channel);
  await channel.attach();
  const live = await collector(watcher.channels.get(p.channel), 'live');

  const ackEphemeral = await withTimeout(channel.publish({ name: 'typing', data: 'eph-1', extras: eph }), 10000,
    'ACK of an ephemeral publish');
  const ackKept = await withTimeout(channel.publish('kept', 'kept-1'), 10000, 'ACK of a stored publish');
  const restChannel = rest(p).channels.get(p.channel);
  await withTimeout(restChannel.publish({ name: 'typing', data: 'eph-rest', extras: eph }), 10000, 'REST ephemeral');
  let mixed;
  try {
    await withTimeout(channel.publish([{ name: 'typing', data: 'eph-mixed', extras: eph },
      { name: 'kept', data: 'kept-mixed' }]), 10000, 'NACK of a mixed batch');
    mixed = { ok: true };
  } catch (err) {
    mixed = { ok: false, error: errorJson(err) };
  }
  await withTimeout(channel.publish('kept', 'kept-2'), 10000, 'ACK of the marker');
  await live.untilData('kept-2');

  const history = (await restChannel.history({ direction: 'forwards' })).items.map((m) => m.data);
  const late = await connected(realtime(p));
  const rewound = await collector(late.channels.get(p.channel, { params: { rewind: '10' } }), 'rewound');
  await rewound.untilData('kept-2');
  await closeAll();
  return {
    ackEphemeral, ackKept, mixed, history,
    live: live.list.map((m) => ({ name: m.name, data: m.data.value, extras: m.extras, serial: m.serial,
      clientId: m.clientId, timestamp: m.timestamp })),
    rewound: rewound.list.map((m) => m.data.value),
  };
});
