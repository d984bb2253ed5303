// The broker dies under publish load (the test kills it, kill -9 or SIGTERM) and comes back on
// the same port and store. ably-js publishers stream with publishes awaiting their ACKs; one
// subscriber listens. Once `before` publishes are acknowledged the scenario prints
// {"event":"loaded"}; the test stops the broker, restarts it and writes "restarted" to stdin;
// the scenario then streams until `after` more are acknowledged, lets everything settle and
// reports every ACK, every NACK and what the subscriber received.
// With `explicitIds` every message carries an id (`p<k>-<i>`), so a publish the broker stored
// but could not acknowledge before it died is recognised when ably-js re-sends it.
import { createInterface } from 'node:readline';
import { scenario, realtime, connected, collector, withTimeout, track, closeAll } from '../../interop/js/lib.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function nextLine() {
  const lines = createInterface({ input: process.stdin });
  return new Promise((resolve) => lines.once('line', (line) => { lines.close(); resolve(line.trim()); }));
}

function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

/** Publish `p<k>-0, p<k>-1, ...` with at most `window` awaiting ACKs, until `running()` is false. */
async function stream(k, channel, p, running, record) {
  const inflight = new Set();
  for (let i = 0; running(); i++) {
    if (inflight.size >= p.window) await Promise.race(inflight);
    const data = `p${k}-${i}`;
    const message = p.explicitIds ? { name: 'seq', data, id: data } : { name: 'seq', data };
    const done = channel.publish(message).then(
      (result) => record.acked(k, i, result?.serials?.[0] ?? null),
      (err) => record.nacked(k, i, err),
    );
    inflight.add(done);
    done.finally(() => inflight.delete(done));
    record.sent[k] = i + 1;
    await sleep(p.intervalMs);
  }
  await withTimeout(Promise.all(inflight), 30000, `publisher ${k}'s last ACKs`);
}

scenario(async (p) => {
  const options = { disconnectedRetryTimeout: 200 };
  const sub = await connected(realtime(p, options));
  const subCh = sub.channels.get(p.channel);
  const subStates = track(sub, 'sub', [subCh]);
  const got = await collector(subCh, 'sub');
  const pubs = [];
  for (let k = 0; k < p.publishers; k++) {
    const client = await connected(realtime(p, options));
    pubs.push({ client, channel: client.channels.get(p.channel), states: track(client, `pub${k}`) });
  }

  let acked = 0;
  let phase = 'before';
  const waiters = [];
  const ackedAtLeast = (n, what) => withTimeout(
    acked >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })), 30000, what);
  const record = {
    sent: pubs.map(() => 0),
    acks: pubs.map(() => []),
    ackedAfterRestart: pubs.map(() => []),
    nacks: [],
    acked(k, i, serial) {
      this.acks[k][i] = serial;
      if (phase === 'after') this.ackedAfterRestart[k].push(i);
      acked++;
      for (const w of waiters.filter((w) => acked >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    },
    nacked(k, i, err) {
      this.nacks.push({ k, i, code: err.code ?? null, message: err.message });
    },
  };
  let running = true;
  const streams = pubs.map((pub, k) => stream(k, pub.channel, p, () => running, record));

  await ackedAtLeast(p.before, `${p.before} ACKs before the restart`);
  emit('loaded', { acked });
  const command = await withTimeout(nextLine(), 60000, 'the test to restart the broker');
  if (command !== 'restarted') throw new Error(`unexpected command ${command}`);
  phase = 'after';
  await ackedAtLeast(acked + p.after, `${p.after} ACKs after the restart`);
  running = false;
  await Promise.all(streams);
  const last = pubs.map((_, k) => `p${k}-${record.sent[k] - 1}`);
  for (const data of last) await got.untilData(data, 30000);

  const result = {
    sent: record.sent,
    acks: record.acks,
    ackedAfterRestart: record.ackedAfterRestart,
    nacks: record.nacks,
    received: got.list.map((m) => [m.data.value, m.serial]),
    subStates: [...subStates],
    pubStates: pubs.map((pub) => [...pub.states]),
  };
  await closeAll();
  return result;
});
