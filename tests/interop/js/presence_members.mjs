// Presence: three clients enter, update and leave while an observer watches; a late attacher
// gets the whole set from the attach-time SYNC (presence.get()); then an agent enters `crowd`
// members on one connection and a second late attacher must get all of them (several SYNC pages).
// REST presence get and history are read page by page through the broker's Link headers.
import { scenario, realtime, rest, connected, withTimeout, closeAll, describeData, allPages, progress } from './lib.mjs';

const describeMember = (m) => ({
  action: m.action,
  clientId: m.clientId,
  connectionId: m.connectionId,
  id: m.id,
  data: describeData(m.data),
  timestamp: m.timestamp ?? null,
});

/** Subscribe to presence events; `until(pred)` resolves once the event list satisfies it. */
async function presenceEvents(channel, name) {
  const list = [];
  const waiters = [];
  progress[name] = list;
  await channel.presence.subscribe((m) => {
    list.push(describeMember(m));
    for (const w of waiters.filter((w) => w.done(list))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(list);
    }
  });
  return {
    list,
    until: (done, what, ms = 10000) =>
      done(list) ? Promise.resolve(list) : withTimeout(new Promise((resolve) => waiters.push({ done, resolve })), ms, what),
  };
}

const count = (action) => (list) => list.filter((e) => e.action === action).length;

scenario(async (p) => {
  const observer = await connected(realtime(p, { clientId: 'observer' }));
  const obsCh = observer.channels.get(p.channel);
  const events = await presenceEvents(obsCh, 'observed');

  const names = ['c1', 'c2', 'c3'];
  const clients = await Promise.all(names.map((clientId) => connected(realtime(p, { clientId }))));
  const chans = clients.map((c) => c.channels.get(p.channel));
  await Promise.all(chans.map((ch, i) => ch.presence.enter({ n: i, state: 'joined' })));
  await events.until((l) => count('enter')(l) >= 3, 'three enters');
  await Promise.all(chans.map((ch, i) => ch.presence.update(`busy-${i}`)));
  await events.until((l) => count('update')(l) >= 3, 'three updates');
  await chans[2].presence.leave();
  await events.until((l) => count('leave')(l) >= 1, 'a leave');
  const observerView = (await obsCh.presence.get()).map(describeMember);

  const late = await connected(realtime(p, { clientId: 'late' }));
  const lateCh = late.channels.get(p.channel);
  const lateMembers = (await withTimeout(lateCh.presence.get(), 10000, 'late presence.get()')).map(describeMember);

  const restCh = rest(p).channels.get(p.channel);
  const restMembers = await allPages(await restCh.presence.get({ limit: 1 }), describeMember);
  const restHistory = await allPages(await restCh.presence.history({ limit: 4, direction: 'forwards' }), describeMember);

  const agent = await connected(realtime(p));
  const agentCh = agent.channels.get(p.crowdChannel);
  const started = Date.now();
  await withTimeout(
    Promise.all(Array.from({ length: p.crowd }, (_, i) => agentCh.presence.enterClient(`user-${i}`, { i }))),
    30000, `${p.crowd} enterClient ACKs`);
  const enterMs = Date.now() - started;
  const crowdLate = await connected(realtime(p, { clientId: 'crowd-late' }));
  const crowdCh = crowdLate.channels.get(p.crowdChannel);
  const syncStarted = Date.now();
  const crowd = await withTimeout(crowdCh.presence.get(), 20000, 'crowd presence.get()');
  const syncMs = Date.now() - syncStarted;

  const result = {
    connectionIds: Object.fromEntries(names.map((n, i) => [n, clients[i].connection.id])),
    events: events.list,
    observerView,
    lateMembers,
    lateSyncComplete: lateCh.presence.syncComplete,
    restMembers,
    restHistory,
    crowd: {
      count: crowd.length,
      clientIds: [...new Set(crowd.map((m) => m.clientId))].length,
      dataOk: crowd.every((m) => m.data && m.data.i === Number(m.clientId.slice(5))),
      connectionIds: [...new Set(crowd.map((m) => m.connectionId))],
      agentConnectionId: agent.connection.id,
      actions: [...new Set(crowd.map((m) => m.action))],
    },
    enterMs,
    syncMs,
  };
  await closeAll();
  return result;
});
