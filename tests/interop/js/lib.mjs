// Shared plumbing for the ably-js interop scenarios: parameters in, one JSON result out.
//
// A scenario calls `scenario(async (p) => result)`. `p` is the JSON object passed as argv[2]
// (host, port, key, format, channel, timeoutMs, ...). The result is printed as the last line
// of stdout; a thrown error (or the internal timeout) prints {"error": ...} and exits 1, with
// whatever the scenario recorded in `progress` so far, so a failing test shows how far it got.
// ably-js logs go to stderr (level from TETHER_INTEROP_LOG, default errors only).
import * as Ably from 'ably';

export { Ably };

export const progress = {};

export function errorJson(err) {
  if (err && typeof err === 'object') {
    return {
      message: err.message,
      code: err.code,
      statusCode: err.statusCode,
      name: err.name,
      stack: err.code ? undefined : err.stack,
    };
  }
  return { message: String(err) };
}

function finish(payload, exitCode) {
  process.stdout.write(JSON.stringify(payload) + '\n', () => process.exit(exitCode));
}

export function scenario(body) {
  const params = JSON.parse(process.argv[2] || '{}');
  const timeoutMs = params.timeoutMs ?? 30000;
  const timer = setTimeout(() => {
    finish({ error: { message: `scenario timed out after ${timeoutMs} ms` }, progress }, 1);
  }, timeoutMs);
  body(params).then(
    (result) => {
      clearTimeout(timer);
      finish(result ?? {}, 0);
    },
    (err) => {
      clearTimeout(timer);
      finish({ error: errorJson(err), progress }, 1);
    },
  );
}

function logOptions() {
  const level = Number(process.env.TETHER_INTEROP_LOG ?? 1);
  return { logLevel: level, logHandler: (msg) => process.stderr.write(`[ably] ${msg}\n`) };
}

/** Client options that point an SDK at the broker: host, port, no TLS, the chosen format. */
export function clientOptions(p, { format = p.format, ...extra } = {}) {
  return {
    key: p.key,
    endpoint: p.host,
    port: p.port,
    tls: false,
    useBinaryProtocol: format === 'msgpack',
    ...logOptions(),
    ...extra,
  };
}

/** A realtime client; every client made here is closed by `closeAll()`. */
const clients = [];

export function realtime(p, extra = {}) {
  const client = new Ably.Realtime(clientOptions(p, extra));
  clients.push(client);
  return client;
}

export function rest(p, extra = {}) {
  return new Ably.Rest(clientOptions(p, extra));
}

export async function connected(client) {
  await withTimeout(client.connection.whenState('connected'), 10000, 'connection to reach CONNECTED');
  return client;
}

/** Close every realtime client and wait (bounded) for CLOSED. */
export async function closeAll() {
  await Promise.all(
    clients.map(async (client) => {
      if (['closed', 'failed', 'initialized'].includes(client.connection.state)) return;
      client.close();
      await withTimeout(client.connection.whenState('closed'), 5000, 'connection to close').catch(() => {});
    }),
  );
}

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Subscribe (which attaches) and collect messages, described as plain JSON, in `list`.
 * `until(n)` resolves once n have arrived; `untilData(value)` once a message with that data has.
 */
export async function collector(channel, name = 'received') {
  const list = [];
  const waiters = [];
  progress[name] = list;
  await channel.subscribe((msg) => {
    list.push(describe(msg));
    for (const w of waiters.filter((w) => w.done(list))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(list);
    }
  });
  const wait = (done, ms, what) => {
    if (done(list)) return Promise.resolve(list);
    const arrived = new Promise((resolve) => waiters.push({ done, resolve }));
    return withTimeout(arrived, ms, `${what} on ${name} (have ${list.length})`);
  };
  return {
    list,
    until: (n, ms = 15000) => wait((l) => l.length >= n, ms, `${n} messages`),
    untilData: (value, ms = 15000) => wait((l) => l.some((m) => m.data.value === value), ms, `data ${value}`),
  };
}

/** A JSON-safe view of a payload that keeps its type: string, binary or decoded JSON. */
export function describeData(data) {
  if (Buffer.isBuffer(data) || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    return { type: 'binary', base64: Buffer.from(data).toString('base64') };
  }
  if (typeof data === 'string') return { type: 'string', value: data };
  if (data === undefined || data === null) return { type: 'none' };
  return { type: 'json', value: data };
}

/** Turn a payload described by Python back into what an application would publish. */
export function makeData(d) {
  if (d.type === 'binary') return Buffer.from(d.base64, 'base64');
  if (d.type === 'none') return undefined;
  return d.value;
}

/** A message described by Python ({name, data, extras}) as an application would publish it. */
export function makeMessage(m) {
  return { name: m.name, data: makeData(m.data), extras: m.extras ?? undefined };
}

export function describe(msg) {
  return {
    id: msg.id,
    name: msg.name,
    data: describeData(msg.data),
    encoding: msg.encoding ?? null,
    extras: msg.extras ?? null,
    serial: msg.serial ?? null,
    action: msg.action ?? null,
    timestamp: msg.timestamp ?? null,
    connectionId: msg.connectionId ?? null,
    clientId: msg.clientId ?? null,
  };
}

/** Every page of a paginated history query; each item described by `view`. */
export async function allPages(first, view = describe, maxPages = 50) {
  const pages = [];
  let page = first;
  while (page) {
    pages.push({ items: page.items.map(view), hasNext: page.hasNext(), isLast: page.isLast() });
    if (pages.length >= maxPages) throw new Error(`more than ${maxPages} history pages`);
    page = await page.next();
  }
  return pages;
}

/** Record connection and channel state changes, for results and for debugging. */
export function track(client, label, channels = []) {
  const log = [];
  progress[`${label}States`] = log;
  client.connection.on((change) => {
    log.push({ on: 'connection', from: change.previous, to: change.current, reason: change.reason?.code ?? null,
      id: client.connection.id ?? null });
  });
  for (const ch of channels) {
    ch.on((change) => {
      log.push({ on: ch.name, event: change.event, from: change.previous, to: change.current,
        resumed: change.resumed, hasBacklog: change.hasBacklog ?? null, reason: change.reason?.code ?? null });
    });
  }
  return log;
}
