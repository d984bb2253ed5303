// Append rollup through ably-js: an agent streams tokens as appends (paced, not awaiting each
// ACK, as @ably/ai-transport's encoder does) on a connection with the `appendRollupWindow`
// transport param; three subscribers record what they get until the closing append:
//   follower - no params: gets the publisher's window (Ably's semantics)
//   chooser  - channel param appendRollupWindow: gets its own window (Tether's extension)
//   late     - like follower, but attaches half-way through (its first delivery is the whole message)
import { scenario, realtime, connected, withTimeout, closeAll } from './lib.mjs';
import { view, recorder } from './mut_lib.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

scenario(async (p) => {
  const extras = (status) => ({ ai: { transport: { stream: 'true', status, 'stream-id': 's1' } } });
  const agent = await connected(realtime(p, { clientId: 'agent', transportParams: { appendRollupWindow: p.publisherWindow } }));
  const follower = await recorder((await connected(realtime(p))).channels.get(p.channel), 'follower');
  const chooserChannel = (await connected(realtime(p))).channels.get(p.channel,
    { params: { appendRollupWindow: String(p.subscriberWindow) } });
  const chooser = await recorder(chooserChannel, 'chooser');
  const lateClient = await connected(realtime(p));

  const ch = agent.channels.get(p.channel);
  const created = await withTimeout(ch.publish({ name: 'ai-output', data: '', extras: extras('streaming') }),
    10000, 'ACK of the create');
  const serial = created.serials[0];
  const acks = [];
  let late = null;
  for (const [i, token] of p.tokens.entries()) {
    if (i === Math.floor(p.tokens.length / 2)) {
      await Promise.all(acks);
      late = await recorder(lateClient.channels.get(p.channel), 'late');
    }
    acks.push(withTimeout(ch.appendMessage({ serial, data: token, extras: extras('streaming') }), 10000, 'an append ACK'));
    await sleep(p.gapMs);
  }
  const closing = await withTimeout(ch.appendMessage({ serial, data: '', extras: extras('complete') }),
    10000, 'ACK of the closing append');
  await Promise.all(acks);
  for (const sub of [follower, chooser, late]) {
    await sub.until((m) => m.version?.serial === closing.versionSerial, 'the closing append');
  }
  const whole = await withTimeout(ch.getMessage(serial), 10000, 'getMessage');
  await closeAll();
  return {
    serial,
    closingSerial: closing.versionSerial,
    attachedParams: chooserChannel.params ?? null,
    follower: follower.list,
    chooser: chooser.list,
    late: late.list,
    whole: view(whole),
  };
});
