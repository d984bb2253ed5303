// Presence across a dropped connection. `dropper` reaches the broker through a proxy and enters;
// an observer on a direct connection watches. The proxy is cut and refuses reconnects:
// - mode "expire": the dropper stays away, so its member must leave, but only once the broker's
//   resume window (connectionStateTtl) has passed;
// - mode "resume": the dropper's proxy is restored and the SDK resumes; a `marker` client cut
//   at the same moment (through a second proxy that stays down) leaves when the window ends, and
//   by then the dropper must still be present, with no leave seen for it.
import { scenario, realtime, connected, withTimeout, closeAll, progress } from './lib.mjs';

async function control(url, action) {
  const res = await fetch(`${url}/${action}`);
  if (!res.ok) throw new Error(`proxy ${action} answered ${res.status}`);
}

scenario(async (p) => {
  const observer = await connected(realtime(p, { clientId: 'observer' }));
  const obsCh = observer.channels.get(p.channel);
  const events = [];
  progress.events = events;
  const waiters = [];
  const t0 = Date.now();
  await obsCh.presence.subscribe((m) => {
    events.push({ action: m.action, clientId: m.clientId, connectionId: m.connectionId, id: m.id, at: Date.now() - t0 });
    for (const w of waiters.filter((w) => w.done())) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  const until = (done, what, ms = 15000) =>
    done() ? Promise.resolve() : withTimeout(new Promise((resolve) => waiters.push({ done, resolve })), ms, what);
  const left = (clientId) => () => events.some((e) => e.action === 'leave' && e.clientId === clientId);

  const viaProxy = (port, clientId) =>
    connected(realtime({ ...p, port }, { clientId, disconnectedRetryTimeout: 250 }));
  const dropper = await viaProxy(p.proxyPort, 'dropper');
  await dropper.channels.get(p.channel).presence.enter('here');
  let marker = null;
  if (p.mode === 'resume') {
    marker = await viaProxy(p.markerProxyPort, 'marker');
    await marker.channels.get(p.channel).presence.enter('marker');
  }
  await until(() => events.filter((e) => e.action === 'enter').length === (marker ? 2 : 1), 'enters');
  const idBefore = dropper.connection.id;

  const down = new Promise((resolve) => dropper.connection.once('disconnected', resolve));
  const cutAt = Date.now() - t0;
  await control(p.controlUrl, 'drop');
  if (marker) await control(p.markerControlUrl, 'drop');
  await withTimeout(down, 10000, 'the dropper to notice the cut');
  const membersAfterCut = (await obsCh.presence.get()).map((m) => m.clientId).sort();

  let idAfter = null;
  if (p.mode === 'resume') {
    const up = new Promise((resolve) => dropper.connection.once('connected', resolve));
    await control(p.controlUrl, 'restore');
    await withTimeout(up, 10000, 'the dropper to reconnect');
    idAfter = dropper.connection.id;
    await until(left('marker'), 'the marker to leave at the end of the resume window', (p.ttlMs + 10000));
  } else {
    await until(left('dropper'), 'the dropper to leave', p.ttlMs + 10000);
  }
  const membersAtEnd = (await obsCh.presence.get()).map((m) => m.clientId).sort();
  const result = { cutAt, events, membersAfterCut, membersAtEnd, idBefore, idAfter };
  await closeAll();
  return result;
});
