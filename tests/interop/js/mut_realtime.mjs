// Mutable messages through ably-js realtime channels: a create streamed by appendMessage, a
// subscriber that saw the create (fragments), a late attacher (one whole message.update, then
// fragments), updateMessage and deleteMessage with operation metadata, then the reads an
// application makes afterwards: history, getMessage and getMessageVersions.
import { scenario, realtime, connected, withTimeout, allPages, closeAll } from './lib.mjs';
import { view, recorder } from './mut_lib.mjs';

scenario(async (p) => {
  const extras = (status) => ({ ai: { transport: { stream: 'true', status } } });
  const agent = await connected(realtime(p, { clientId: 'agent' }));
  const early = await connected(realtime(p));
  const chAgent = agent.channels.get(p.channel);
  const earlySub = await recorder(early.channels.get(p.channel), 'early');

  const created = await withTimeout(chAgent.publish({ name: 'ai-output', data: '', extras: extras('streaming') }),
    10000, 'ACK of the create');
  const serial = created.serials[0];
  const appendResults = [];
  for (const token of p.tokensBeforeJoin) {
    appendResults.push(await withTimeout(chAgent.appendMessage({ serial, data: token, extras: extras('streaming') }),
      10000, 'ACK of an append'));
  }
  await earlySub.until((m) => m.version?.serial === appendResults.at(-1).versionSerial, 'the last early append');

  const late = await connected(realtime(p));
  const lateCh = late.channels.get(p.channel);
  const lateSub = await recorder(lateCh, 'late');
  for (const token of p.tokensAfterJoin) {
    appendResults.push(await withTimeout(chAgent.appendMessage({ serial, data: token, extras: extras('streaming') }),
      10000, 'ACK of an append'));
  }
  const closing = await withTimeout(chAgent.appendMessage({ serial, data: '', extras: extras('complete') }),
    10000, 'ACK of the closing append');
  appendResults.push(closing);
  for (const sub of [earlySub, lateSub]) {
    await sub.until((m) => m.version?.serial === closing.versionSerial, 'the closing append');
  }

  const afterStream = await withTimeout(lateCh.getMessage(serial), 10000, 'getMessage after the stream');
  const historyAfterStream = await withTimeout(lateCh.history({ direction: 'forwards' }), 10000, 'history');

  const updated = await withTimeout(chAgent.updateMessage({ serial, data: p.updatedData },
    { description: 'edited', metadata: { reason: 'typo' } }), 10000, 'ACK of updateMessage');
  const deleted = await withTimeout(chAgent.deleteMessage({ serial }, { description: 'removed' }),
    10000, 'ACK of deleteMessage');
  await earlySub.until((m) => m.version?.serial === deleted.versionSerial, 'the delete');

  const afterDelete = await withTimeout(lateCh.getMessage(serial), 10000, 'getMessage after the delete');
  const versions = await withTimeout(chAgent.getMessageVersions(serial), 10000, 'getMessageVersions');
  const versionPages = await allPages(versions, view);
  const history = await allPages(await withTimeout(lateCh.history(), 10000, 'history'), view);
  await closeAll();
  return {
    serial,
    versionSerials: appendResults.map((r) => r.versionSerial),
    updateSerial: updated.versionSerial,
    deleteSerial: deleted.versionSerial,
    early: earlySub.list,
    late: lateSub.list,
    afterStream: view(afterStream),
    historyAfterStream: historyAfterStream.items.map(view),
    afterDelete: view(afterDelete),
    versions: versionPages.flatMap((page) => page.items),
    history: history.flatMap((page) => page.items),
  };
});
