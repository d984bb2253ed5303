// The worst moment for a crash: the broker has stored a publish, but its ACK never reaches the
// publisher. The publisher talks through a proxy whose broker-to-client direction the test
// stalls, so the ACK is held; the test kills the broker (kill -9), cuts the proxy (the held ACK
// is lost), restarts the broker, and writes "restarted". ably-js's resume then fails (the
// broker's connection state died with it) and it re-sends the publish under a new connection
// and msgSerial: only the message id can tell the broker it already has it.
// Events: "ready" (test stalls the proxy, answers "stalled"), "stored" (the subscriber has the
// message, so it is committed; test crashes and restarts the broker, answers "restarted").
import { createInterface } from 'node:readline';
import { scenario, realtime, connected, collector, withTimeout, track, closeAll } from '../../interop/js/lib.mjs';

const lines = createInterface({ input: process.stdin });
const commands = [];
const waiting = [];
lines.on('line', (line) => (waiting.length ? waiting.shift()(line.trim()) : commands.push(line.trim())));

async function expectCommand(expected) {
  const line = commands.length ? commands.shift() : await withTimeout(
    new Promise((resolve) => waiting.push(resolve)), 60000, `the test to answer ${expected}`);
  if (line !== expected) throw new Error(`expected ${expected}, got ${line}`);
}

function emit(event) {
  process.stdout.write(JSON.stringify({ event }) + '\n');
}

scenario(async (p) => {
  const options = { disconnectedRetryTimeout: 200 };
  const sub = await connected(realtime(p, options));
  const subCh = sub.channels.get(p.channel);
  const got = await collector(subCh, 'sub');
  const pub = await connected(realtime({ ...p, port: p.proxyPort }, options));
  const pubCh = pub.channels.get(p.channel);
  const pubStates = track(pub, 'pub');
  const idBefore = pub.connection.id;

  emit('ready');
  await expectCommand('stalled');
  const message = { name: 'seq', data: 'm-0', ...(p.explicitId ? { id: 'unacked-m-0' } : {}) };
  const publishing = pubCh.publish(message);
  await got.untilData('m-0');
  emit('stored');
  await expectCommand('restarted');
  const ack = await withTimeout(publishing, 20000, 'the re-sent publish to be acknowledged');
  const after = await withTimeout(pubCh.publish('seq', 'm-1'), 10000, 'a publish after the restart');
  await got.untilData('m-1', 20000);

  const result = {
    ackSerial: ack?.serials?.[0] ?? null,
    afterSerial: after?.serials?.[0] ?? null,
    received: got.list.map((m) => [m.data.value, m.serial]),
    idBefore,
    idAfter: pub.connection.id,
    pubStates: [...pubStates],
  };
  lines.close();
  await closeAll();
  return result;
});
