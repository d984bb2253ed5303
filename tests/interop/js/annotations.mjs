// Annotations through ably-js: realtime and REST publish, delete, raw annotation subscription
// (annotation_subscribe mode), summaries as message.summary updates, REST get with paging,
// and the summary on a history read. Two identified clients, alice and bob, and one anonymous
// REST client annotate one message; p.channel must allow annotations.
import { scenario, realtime, rest, connected, closeAll, errorJson, withTimeout, progress } from './lib.mjs';

const MODES = ['publish', 'subscribe', 'annotation_publish', 'annotation_subscribe'];

function annotationView(a) {
  return { action: a.action, type: a.type, name: a.name ?? null, count: a.count ?? null, clientId: a.clientId ?? null,
    serial: a.serial, messageSerial: a.messageSerial, id: a.id ?? null, timestamp: a.timestamp ?? null,
    data: a.data ?? null };
}

function waiter(list, label) {
  const waiters = [];
  progress[label] = list;
  return {
    list,
    push(item) {
      list.push(item);
      for (const w of waiters.filter((w) => w.pred(item))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(item);
      }
    },
    until(pred, what) {
      const found = list.find(pred);
      if (found) return Promise.resolve(found);
      return withTimeout(new Promise((resolve) => waiters.push({ pred, resolve })), 10000, `${what} on ${label}`);
    },
  };
}

async function attempt(promise, what) {
  try {
    return { ok: true, value: (await withTimeout(promise, 10000, what)) ?? null };
  } catch (err) {
    return { ok: false, error: errorJson(err) };
  }
}

scenario(async (p) => {
  const alice = await connected(realtime(p, { clientId: 'alice' }));
  const bob = await connected(realtime(p, { clientId: 'bob' }));
  const chA = alice.channels.get(p.channel, { modes: MODES });
  const chB = bob.channels.get(p.channel, { modes: MODES });
  const raw = waiter([], 'raw');
  const messages = waiter([], 'messages');
  await chB.annotations.subscribe((a) => raw.push(annotationView(a)));
  await chB.subscribe((m) => messages.push({ action: m.action, serial: m.serial, name: m.name ?? null,
    summary: m.annotations?.summary ?? null }));
  await chA.attach();

  await chA.publish('reply', 'hello');
  const message = await messages.until((m) => m.action === 'message.create', 'the message');
  const restA = rest(p, { clientId: 'alice' }).channels.get(p.channel);
  const anon = rest(p).channels.get(p.channel);

  const published = [];
  const ops = [
    () => chA.annotations.publish(message.serial, { type: 'reaction:distinct.v1', name: '👍', data: 'first' }),
    () => chB.annotations.publish(message.serial, { type: 'reaction:distinct.v1', name: '👍' }),
    () => chB.annotations.publish(message.serial, { type: 'reaction:distinct.v1', name: '❤️' }),
    () => chA.annotations.publish(message.serial, { type: 'vote:unique.v1', name: 'yes' }),
    () => restA.annotations.publish(message.serial, { type: 'vote:unique.v1', name: 'no' }),
    () => chA.annotations.publish(message.serial, { type: 'rating:multiple.v1', name: 'stars', count: 4 }),
    () => chA.annotations.publish(message.serial, { type: 'rating:multiple.v1', name: 'stars', count: 4 }),
    () => chA.annotations.publish(message.serial, { type: 'receipt:flag.v1' }),
    () => chB.annotations.publish(message.serial, { type: 'receipt:flag.v1' }),
    () => anon.annotations.publish(message.serial, { type: 'metric:total.v1' }),
    () => chA.annotations.delete(message.serial, { type: 'reaction:distinct.v1', name: '👍' }),
  ];
  for (const [i, op] of ops.entries()) published.push(await attempt(op(), `annotation ${i}`));
  await raw.until((a) => a.action === 'annotation.delete', 'the delete');
  const finalSummary = await messages.until((m) => m.action === 'message.summary'
    && m.summary['reaction:distinct.v1']?.['👍']?.total === 1 && m.summary['metric:total.v1'], 'the final summary');

  const refusals = {
    anonymousDistinct: await attempt(anon.annotations.publish(message.serial, { type: 'reaction:distinct.v1', name: 'x' }),
      'anonymous distinct'),
    badType: await attempt(chA.annotations.publish(message.serial, { type: 'reaction' }), 'a type without a method'),
    unknownMessage: await attempt(chA.annotations.publish('01700000000000-000@nope:000', { type: 'receipt:flag.v1' }),
      'an unknown message'),
  };
  const plain = await connected(realtime(p, { clientId: 'carol' }));
  const noMode = await attempt(plain.channels.get(p.channel).annotations.subscribe(() => {}), 'subscribe without mode');

  const all = (await restA.annotations.get(message.serial, {})).items.map(annotationView);
  const pages = [];
  let page = await restA.annotations.get(message.serial, { limit: 5 });
  while (page) {
    pages.push(page.items.map((a) => a.name ?? a.type));
    page = page.hasNext() ? await page.next() : null;
  }
  const history = (await restA.history()).items.map((m) => ({ serial: m.serial, summary: m.annotations?.summary ?? null }));
  const got = await restA.getMessage(message.serial);
  const late = await connected(realtime(p, { clientId: 'dave' }));
  const rewound = await withTimeout(new Promise((resolve) => {
    late.channels.get(p.channel, { params: { rewind: '1' } }).subscribe((m) => resolve(m));
  }), 10000, 'the rewound message');
  await closeAll();
  return {
    message, published, raw: raw.list, summaries: messages.list.filter((m) => m.action === 'message.summary'),
    finalSummary, refusals, noMode, all, pages, history, getMessage: { summary: got.annotations?.summary ?? null },
    rewound: { serial: rewound.serial, action: rewound.action, summary: rewound.annotations?.summary ?? null },
  };
});
