// Scenario 1: connect, check the connection identity and details, ping, read server time, close.
import { scenario, realtime, connected, withTimeout, track } from './lib.mjs';

scenario(async (p) => {
  const client = realtime(p);
  const states = track(client, 'client');
  await connected(client);
  const connectedAs = {
    state: client.connection.state,
    id: client.connection.id ?? null,
    key: client.connection.key ?? null,
    // The SDK keeps the CONNECTED frame's connectionDetails only internally; read it to check them.
    details: client.connection.connectionManager.connectionDetails ?? null,
    maxMessageSize: client.options.maxMessageSize,
  };
  const pingMs = await withTimeout(client.connection.ping(), 5000, 'a reply to connection.ping()');
  const serverTime = await withTimeout(client.time(), 5000, 'time()');
  const closed = new Promise((resolve) => client.connection.once('closed', resolve));
  client.close();
  await withTimeout(closed, 5000, 'CLOSED');
  return { ...connectedAs, pingMs, serverTime, localTime: Date.now(), finalState: client.connection.state, states };
});
