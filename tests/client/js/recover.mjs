// ably-js side of the recover interop tests. With p.recover: take that connection over (a recovery
// key the Python client made), subscribe, and report what arrives up to {i: p.until}. Without: connect,
// subscribe, publish {i: 1..p.until} itself, and report the recovery key as of the last one handled.
// Either way the process then exits without closing, as a killed process would.
import { scenario, realtime, connected, withTimeout } from '../../interop/js/lib.mjs';

scenario(async (p) => {
  const client = await connected(realtime(p, p.recover ? { recover: p.recover } : {}));
  const channel = client.channels.get(p.channel);
  const received = [];
  let recoveryKey = null;
  const done = new Promise((resolve) => {
    channel.subscribe((msg) => {
      received.push(msg.data.i);
      if (msg.data.i === p.until) {
        recoveryKey = client.connection.createRecoveryKey();
        resolve();
      }
    });
  });
  await withTimeout(channel.whenState('attached'), 10000, 'channel to attach');
  if (!p.recover) {
    for (let i = 1; i <= p.until; i++) await channel.publish('n', { i });
  }
  await withTimeout(done, 20000, `message ${p.until} (have ${received.length})`);
  return {
    connectionId: client.connection.id,
    errorCode: client.connection.errorReason?.code ?? null,
    received,
    recoveryKey,
  };
});
