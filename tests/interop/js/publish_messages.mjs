// Publish messages described by Python (string, JSON or binary data, names, extras) over
// realtime, one ProtocolMessage each, and report the serials; for cross-SDK checks.
import { scenario, realtime, connected, makeMessage, withTimeout, closeAll } from './lib.mjs';

scenario(async (p) => {
  const client = await connected(realtime(p));
  const ch = client.channels.get(p.channel);
  const results = await withTimeout(Promise.all(p.messages.map((m) => ch.publish(makeMessage(m)))), 10000, 'ACKs');
  await closeAll();
  return { serials: results.map((r) => r.serials[0]) };
});
