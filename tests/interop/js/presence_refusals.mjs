// Presence refusals as ably-js reports them: a token without the presence capability (40160),
// an identified client entering as someone else (40012), an anonymous client entering on behalf
// of a clientId (40012). Each client connects with a token minted by the test.
import { scenario, realtime, connected, errorJson, withTimeout, closeAll } from './lib.mjs';

const outcome = (promise, what) =>
  withTimeout(promise, 10000, what).then(
    () => ({ ok: true }),
    (err) => ({ ok: false, error: errorJson(err) }),
  );

scenario(async (p) => {
  const withToken = (token) => connected(realtime({ ...p, key: undefined }, { key: undefined, token }));
  const reader = await withToken(p.readerToken);
  const readerCh = reader.channels.get(p.channel);
  const noCapability = await outcome(readerCh.presence.enter('x'), 'enter without the presence capability');

  const alice = await withToken(p.aliceToken);
  const spoof = await outcome(alice.channels.get(p.channel).presence.enterClient('mallory', 'x'), 'enterClient as another');
  const own = await outcome(alice.channels.get(p.channel).presence.enter('alice-data'), 'alice enters as herself');

  const anon = await withToken(p.anonToken);
  const anonOnBehalf = await outcome(anon.channels.get(p.channel).presence.enterClient('someone', 'x'), 'anonymous enterClient');
  const members = (await alice.channels.get(p.channel).presence.get()).map((m) => m.clientId);
  const states = [reader, alice, anon].map((c) => c.connection.state);
  await closeAll();
  return { noCapability, spoof, own, anonOnBehalf, members, states };
});
