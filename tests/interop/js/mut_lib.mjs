// Shared helpers for the mutable-message scenarios: a message view that keeps action, serial
// and version, and a subscriber that records those views and can wait for one.
import { withTimeout, progress } from './lib.mjs';

/** A JSON view of a received message that keeps every field the mutation tests look at. */
export function view(msg) {
  return {
    action: msg.action ?? null,
    serial: msg.serial ?? null,
    name: msg.name ?? null,
    data: msg.data ?? null,
    extras: msg.extras ?? null,
    timestamp: msg.timestamp ?? null,
    clientId: msg.clientId ?? null,
    version: msg.version ?? null,
  };
}

/** Subscribe and record every message as `view`s; `until(pred)` waits for a matching one. */
export async function recorder(channel, label) {
  const list = [];
  const waiters = [];
  progress[label] = list;
  await channel.subscribe((msg) => {
    list.push(view(msg));
    for (const w of waiters.filter((w) => w.done())) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  return {
    list,
    until(pred, what) {
      const done = () => list.some(pred);
      if (done()) return Promise.resolve();
      return withTimeout(new Promise((resolve) => waiters.push({ done, resolve })), 10000, `${what} on ${label}`);
    },
  };
}
