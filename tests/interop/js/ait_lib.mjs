// Shared pieces of the @ably/ai-transport scenarios: an agent that answers an invocation the
// way the SDK's README does (page history, start the run, pipe a model stream, end the run),
// a deterministic fake OpenAI Responses stream, client sessions, and waits on what a view
// renders. The shipped OpenAI Responses codec is used because it needs nothing beyond `ably`
// (the Vercel codec imports the `ai` package at load time).
import { Invocation, createAgentSession, createClientSession } from '@ably/ai-transport';
import { ResponsesCodec } from '@ably/ai-transport/openai';
import { realtime, connected, withTimeout, allPages, progress } from './lib.mjs';

export const codec = ResponsesCodec;

/** The text a renderer would show for one codec message: its role and its output/input text. */
export function render({ codecMessageId, message }) {
  const text = message.items
    .filter((item) => item.type === 'message')
    .flatMap((item) => item.content)
    .map((part) => part.text ?? part.refusal ?? '')
    .join('');
  return { id: codecMessageId, role: message.role, text };
}

/** What a view shows right now: the visible messages and the visible runs. */
export function snapshot(view) {
  return {
    messages: view.getMessages().map(render),
    runs: view.runs().map((r) => ({ runId: r.runId, status: r.status, clientId: r.clientId })),
  };
}

/** Resolve once `pred(snapshot(view))` holds, re-checking on every view event; bounded. */
export function waitView(view, pred, what, ms = 15000) {
  const check = () => pred(snapshot(view));
  if (check()) return Promise.resolve(snapshot(view));
  const offs = [];
  const done = new Promise((resolve) => {
    const on = () => {
      if (check()) resolve(snapshot(view));
    };
    offs.push(view.on('update', on), view.on('run', on));
  });
  return withTimeout(done, ms, `${what} (view shows ${JSON.stringify(snapshot(view))})`).finally(() => {
    for (const off of offs) off();
  });
}

/**
 * What a session's tree holds for one run, whether or not a view shows it: a view hides a
 * reply whose prompt it has not loaded, the tree still folds every live delivery.
 */
export function runSnapshot(session, runId) {
  const node = session.tree.getRunNode(runId);
  if (!node) return null;
  return { status: node.state.status, messages: codec.getMessages(node.projection).map(render) };
}

/** Resolve once `pred(runSnapshot(...))` holds, re-checking on every tree fold; bounded. */
export function waitRun(session, runId, pred, what, ms = 15000) {
  const check = () => pred(runSnapshot(session, runId));
  if (check()) return Promise.resolve(runSnapshot(session, runId));
  let offs = [];
  const done = new Promise((resolve) => {
    const on = () => {
      if (check()) resolve(runSnapshot(session, runId));
    };
    offs = [session.tree.on('output', on), session.tree.on('run', on), session.tree.on('update', on)];
  });
  return withTimeout(done, ms, `${what} (tree has ${JSON.stringify(runSnapshot(session, runId))})`).finally(() => {
    for (const off of offs) off();
  });
}

export function userMessage(text) {
  return codec.createUserMessage({
    role: 'user',
    items: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text }] }],
  });
}

/** A connected client session for `clientId` on the scenario's channel. */
export async function clientSession(p, clientId) {
  const client = await connected(realtime(p, { clientId }));
  const session = createClientSession({ client, channelName: p.channel, codec });
  session.on('error', (err) => {
    (progress.sessionErrors ??= []).push({ clientId, code: err.code, message: err.message });
  });
  await withTimeout(session.connect(), 10000, `${clientId} session connect`);
  return session;
}

/** A promise with its resolve function, for pausing the fake model until the test says go. */
export function gate() {
  let open;
  const promise = new Promise((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

function aborted(signal) {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * A Responses event stream for one assistant message: `tokens` as output_text deltas. After
 * `pauseAfter` tokens it waits for `resume` (or the abort signal, as a real model call would
 * observe it), so a test can act while the reply is visibly in progress.
 */
export async function* fakeModel({ itemId, tokens, pauseAfter = -1, resume, signal, emitted }) {
  const item = { id: itemId, type: 'message', role: 'assistant', status: 'in_progress', content: [] };
  let seq = 0;
  yield { type: 'response.created', sequence_number: seq++, response: { id: `resp_${itemId}` } };
  yield { type: 'response.output_item.added', output_index: 0, item, sequence_number: seq++ };
  yield {
    type: 'response.content_part.added', item_id: itemId, output_index: 0, content_index: 0,
    part: { type: 'output_text', text: '', annotations: [] }, sequence_number: seq++,
  };
  for (const [i, delta] of tokens.entries()) {
    if (i === pauseAfter) {
      await Promise.race([resume, aborted(signal)]);
      if (signal.aborted) return;
    }
    emitted.push(delta);
    yield {
      type: 'response.output_text.delta', item_id: itemId, output_index: 0, content_index: 0, delta,
      logprobs: [], sequence_number: seq++,
    };
  }
  const text = tokens.join('');
  yield {
    type: 'response.output_text.done', item_id: itemId, output_index: 0, content_index: 0, text, logprobs: [],
    sequence_number: seq++,
  };
  const done = { ...item, status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] };
  yield { type: 'response.output_item.done', output_index: 0, item: done, sequence_number: seq++ };
  yield { type: 'response.completed', sequence_number: seq++, response: { id: `resp_${itemId}` } };
}

/**
 * Serve one invocation (the body a client would POST to the agent's endpoint) with its own
 * Ably connection and agent session, as the SDK README's route handler does.
 */
export async function serveInvocation(p, body, model) {
  const client = await connected(realtime(p, { clientId: 'agent' }));
  const session = createAgentSession({ client, channelName: body.sessionName, codec });
  await withTimeout(session.connect(), 10000, 'agent session connect');
  const run = session.createRun(Invocation.fromJSON(body));
  while (run.view.hasOlder()) await withTimeout(run.view.loadOlder(), 10000, 'agent history page');
  await withTimeout(run.start(), 10000, 'agent run.start (locating the trigger)');
  const context = run.view.getMessages().map(render);
  const emitted = [];
  const result = await run.pipe(fakeModel({ ...model, signal: run.abortSignal, emitted }));
  await run.end(result.reason === 'error' ? { reason: 'error' } : { reason: result.reason });
  await session.end();
  client.close();
  return { runId: run.runId, context, pipeReason: result.reason, emitted, error: result.error?.message ?? null };
}

/** Hand a client's send to the agent, as the app's POST /api/chat would; returns the agent's work. */
export function invoke(p, clientRun, model) {
  const body = JSON.parse(JSON.stringify(clientRun.toInvocation()));
  return serveInvocation(p, body, model);
}

/** The channel's raw history, oldest first, reduced to what the broker is responsible for. */
export async function wireHistory(p) {
  const reader = await connected(realtime(p));
  const first = await withTimeout(reader.channels.get(p.channel).history({ direction: 'forwards' }), 10000, 'history');
  const pages = await allPages(first, (m) => ({
    name: m.name ?? null,
    action: m.action,
    data: typeof m.data === 'string' ? m.data : null,
    transport: m.extras?.ai?.transport ?? null,
    serial: m.serial,
    versionSerial: m.version?.serial ?? null,
  }));
  return pages.flatMap((page) => page.items);
}
