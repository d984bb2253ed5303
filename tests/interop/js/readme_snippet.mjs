// A README snippet run as written: `p.snippet` must define `client` (an Ably.Realtime) from
// `Ably` and `KEY`. The client then does a publish/subscribe round trip and reads the channel's
// history over REST, so both the WebSocket and the HTTP side of its options are exercised.
import { Ably, scenario, progress, withTimeout } from './lib.mjs';

scenario(async (p) => {
  const client = new Function('Ably', 'KEY', `${p.snippet}\nreturn client;`)(Ably, p.key);
  try {
    await withTimeout(client.connection.once('connected'), 10000, 'connected');
    progress.connected = true;
    const channel = client.channels.get(p.channel);
    const received = new Promise((resolve) => channel.subscribe('greeting', (m) => resolve(m.data)));
    await withTimeout(channel.attach(), 10000, 'attached');
    await withTimeout(channel.publish('greeting', 'hello over tls'), 10000, 'ACK');
    const data = await withTimeout(received, 10000, 'the echo');
    const history = await withTimeout(channel.history(), 10000, 'history');
    return { received: data, history: history.items.map((m) => m.data) };
  } finally {
    client.close();
  }
});
