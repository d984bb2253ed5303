// A provisioned app (POST /apps) used the way the SDK suites use it: its first key for realtime
// pub/sub and presence (the fixture members), a restricted key refused where its capability ends.
import { scenario, realtime, rest, connected, collector, withTimeout, closeAll } from './lib.mjs';

scenario(async (p) => {
  const restMembers = (await rest(p).channels.get(p.fixtureChannel).presence.get()).items;
  const restFixtures = restMembers.map((m) => m.clientId);
  const decoded = restMembers.find((m) => m.clientId === 'client_decoded')?.data ?? null;

  const client = await connected(realtime(p));
  const fixtureChannel = client.channels.get(p.fixtureChannel);
  await withTimeout(fixtureChannel.attach(), 10000, 'attach to the fixture channel');
  const realtimeFixtures = (await withTimeout(fixtureChannel.presence.get(), 10000, 'presence.get()')).map((m) => m.clientId);

  const room = client.channels.get('sandbox:room');
  const received = await collector(room);
  await room.publish('greeting', 'hello sandbox');
  await received.until(1);

  let refused = null;
  try {
    await rest(p, { key: p.limitedKey }).channels.get('cansubscribe:x').publish('no', 'entry');
  } catch (err) {
    refused = { code: err.code, statusCode: err.statusCode };
  }
  const allowed = await rest(p, { key: p.limitedKey }).channels.get('canpublish:x').publish('yes', 'fine');
  await closeAll();
  return { restFixtures, decoded, realtimeFixtures, received: received.list, refused, allowed: allowed?.serials?.length ?? 0 };
});
