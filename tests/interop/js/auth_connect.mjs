// Auth scenario: connect with one credential form (p.kind, see auth_lib.mjs), publish and
// receive on an allowed channel (the broker stamps the token's clientId), read history over
// REST with the same token (Bearer), then re-authorise on the live connection
// (auth.authorize() sends an in-band AUTH) and check the connection survived with the same id.
import { scenario, realtime, connected, collector, closeAll, track, withTimeout, allPages, describe } from './lib.mjs';
import { credentials } from './auth_lib.mjs';

scenario(async (p) => {
  const { options, counter } = credentials(p, p.kind);
  const client = realtime(p, options);
  const states = track(client, 'client');
  await connected(client);
  const connectedAs = {
    id: client.connection.id,
    clientId: client.auth.clientId ?? null,
    detailsClientId: client.connection.connectionManager.connectionDetails?.clientId ?? null,
    tokenMethod: client.auth.method,
  };
  const channel = client.channels.get(p.channel);
  const received = await collector(channel);
  await withTimeout(channel.publish('first', 'before-reauth'), 10000, 'publish before re-auth');
  await received.until(1);

  const renewed = await withTimeout(client.auth.authorize(), 10000, 'auth.authorize() on a live connection');
  const afterReauth = { id: client.connection.id, state: client.connection.state, clientId: client.auth.clientId ?? null };
  await withTimeout(channel.publish('second', 'after-reauth'), 10000, 'publish after re-auth');
  await received.until(2);

  const history = await withTimeout(channel.history({ direction: 'forwards' }).then((page) => allPages(page, describe)), 10000, 'history');
  await closeAll();
  return {
    connectedAs,
    afterReauth,
    renewedToken: { hasToken: typeof renewed.token === 'string', clientId: renewed.clientId ?? null, expires: renewed.expires ?? null },
    received: received.list,
    history: history.flatMap((page) => page.items),
    callbackCalls: counter.calls,
    callbackParams: counter.params,
    states,
  };
});
