// The official @ably/ai-transport client session (Vercel codec) as one device of a conversation.
// Params: {host, port, key, clientId, channel, agentUrl, prompts: [text], loadHistory: n}
// For each prompt: send, POST the invocation to agentUrl, wait for the run to end. Then print
// the view's messages and runs. Emits {"event": "run-ended", ...} as each run ends.
import { Ably, emit, main, vercel } from './sdk.mjs';

const waitForEnd = (session, runId) =>
  new Promise((resolve) => {
    const existing = session.view.run(runId);
    if (existing && existing.status !== 'active') return resolve(existing.status);
    const off = session.tree.on('run', (event) => {
      if (event.runId === runId && event.type === 'end') {
        off();
        resolve(event.reason);
      }
    });
  });

main(async (p) => {
  const client = new Ably.Realtime({
    key: p.key, endpoint: p.host, port: p.port, tls: false, clientId: p.clientId, useBinaryProtocol: true,
    logLevel: 1,
  });
  const session = vercel.createClientSession({ client, channelName: p.channel });
  await session.connect();
  if (p.loadHistory) await session.view.loadOlder(p.loadHistory);
  const runs = [];
  for (const text of p.prompts ?? []) {
    const message = { id: `js-${runs.length}`, role: 'user', parts: [{ type: 'text', text }] };
    const codec = vercel.createUIMessageCodec();
    const run = await session.view.send(codec.createUserMessage(message));
    const response = await fetch(p.agentUrl, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(run.toInvocation()),
    });
    if (!response.ok) throw new Error(`agent answered ${response.status}`);
    await run.started;
    const reason = await waitForEnd(session, run.runId);
    emit({ event: 'run-ended', runId: run.runId, reason });
    runs.push(run.runId);
  }
  const result = {
    messages: session.view.getMessages(),
    runs: session.view.runs().map(({ runId, clientId, status }) => ({ runId, clientId, status })),
    hasOlder: session.view.hasOlder(),
  };
  await session.close();
  client.close();
  return result;
});
