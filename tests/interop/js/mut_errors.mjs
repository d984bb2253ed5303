// Mutations the broker must refuse, as the SDK surfaces them: realtime (NACK) and REST (HTTP
// error). `denied` clients lack the capability (40160); `locked` names a channel whose
// namespace rules forbid mutation (93002); `grow` appends past the maximum message size (40009)
// although the append alone is small enough. Each attempt targets a message that exists.
import { scenario, realtime, rest, connected, withTimeout, closeAll, errorJson } from './lib.mjs';

async function outcome(promise, what) {
  try {
    const value = await withTimeout(promise, 10000, what);
    return { ok: value };
  } catch (err) {
    return { error: errorJson(err) };
  }
}

scenario(async (p) => {
  const owner = await connected(realtime(p, { clientId: 'alice' }));
  const results = {};
  for (const attempt of p.attempts) {
    const original = 'o'.repeat(attempt.originalSize ?? 0) || 'original';
    const created = await withTimeout(owner.channels.get(attempt.channel).publish('m', original), 10000, 'create');
    const serial = created.serials[0];
    const opts = { key: attempt.key ?? p.key, ...(attempt.clientId ? { clientId: attempt.clientId } : {}) };
    const ch = attempt.rest
      ? rest(p, opts).channels.get(attempt.channel)
      : (await connected(realtime(p, opts))).channels.get(attempt.channel);
    const call = { update: 'updateMessage', append: 'appendMessage', delete: 'deleteMessage' }[attempt.op];
    const data = attempt.op === 'delete' ? undefined : 'a'.repeat(attempt.appendSize ?? 0) || 'changed';
    const result = await outcome(ch[call]({ serial, data }), `${attempt.label}`);
    const after = await withTimeout(owner.channels.get(attempt.channel).getMessage(serial), 10000, 'getMessage');
    const dataAfter = after.data === original ? 'original' : after.data;
    results[attempt.label] = { ...result, dataAfter, actionAfter: after.action };
  }
  await closeAll();
  return results;
});
