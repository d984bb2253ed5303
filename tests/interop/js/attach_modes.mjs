// Attach modes as ably-js sees them: the modes it asks for (ChannelOptions.modes, sent as ATTACH
// flags) intersected with the key's capability, read back from the ATTACHED flags as
// `channel.modes`. p.cases: [{label, key, modes?, probe?}] where probe is 'publish' or 'enter':
// an operation tried after attaching, to show the broker enforces the granted modes.
import { scenario, realtime, connected, closeAll, errorJson, withTimeout } from './lib.mjs';

async function attempt(promise, what) {
  try {
    return { ok: true, value: (await withTimeout(promise, 10000, what)) ?? null };
  } catch (err) {
    return { ok: false, error: errorJson(err) };
  }
}

scenario(async (p) => {
  const out = {};
  for (const c of p.cases) {
    const client = realtime(p, { key: c.key, clientId: 'modes-client' });
    await connected(client);
    const channel = client.channels.get(`modes:${c.label}`, c.modes ? { modes: c.modes } : {});
    const attach = await attempt(channel.attach(), `attach ${c.label}`);
    const result = { attach, modes: channel.modes ?? null, state: channel.state };
    if (c.probe === 'publish') result.probe = await attempt(channel.publish('x', 'y'), `publish ${c.label}`);
    if (c.probe === 'enter') result.probe = await attempt(channel.presence.enter('here'), `enter ${c.label}`);
    out[c.label] = result;
  }
  await closeAll();
  return out;
});
