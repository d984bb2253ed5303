// Mutable messages through an ably-js REST client (PATCH /channels/:name/messages/:serial and
// the GET reads), watched by a realtime subscriber: every REST operation must reach it live.
import { scenario, realtime, rest, connected, withTimeout, allPages, closeAll } from './lib.mjs';
import { view, recorder } from './mut_lib.mjs';

scenario(async (p) => {
  const watcher = await connected(realtime(p));
  const sub = await recorder(watcher.channels.get(p.channel), 'watcher');
  const ch = rest(p, { clientId: 'rest-writer' }).channels.get(p.channel);

  const created = await withTimeout(ch.publish({ name: 'doc', data: p.tokens[0], extras: { headers: { v: '0' } } }),
    10000, 'REST publish');
  const serial = created.serials[0];
  const appends = [];
  for (const [i, token] of p.tokens.slice(1).entries()) {
    appends.push(await withTimeout(ch.appendMessage({ serial, data: token, extras: { headers: { v: String(i + 1) } } }),
      10000, 'REST appendMessage'));
  }
  const afterAppends = view(await withTimeout(ch.getMessage(serial), 10000, 'getMessage'));
  const updated = await withTimeout(ch.updateMessage({ serial, name: 'renamed' }, { description: 'rename' }),
    10000, 'REST updateMessage');
  const deleted = await withTimeout(ch.deleteMessage({ serial, data: '' }, { metadata: { by: 'moderator' } }),
    10000, 'REST deleteMessage');
  await sub.until((m) => m.version?.serial === deleted.versionSerial, 'the REST delete');
  const afterDelete = view(await withTimeout(ch.getMessage({ serial }), 10000, 'getMessage by Message'));
  const versions = await allPages(await withTimeout(ch.getMessageVersions({ serial }), 10000, 'getMessageVersions'), view);
  const history = await allPages(await withTimeout(ch.history({ direction: 'forwards' }), 10000, 'history'), view);
  await closeAll();
  return {
    serial,
    appendSerials: appends.map((r) => r.versionSerial),
    updateSerial: updated.versionSerial,
    deleteSerial: deleted.versionSerial,
    live: sub.list,
    afterAppends,
    afterDelete,
    versions: versions.flatMap((page) => page.items),
    history: history.flatMap((page) => page.items),
  };
});
