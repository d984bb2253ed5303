// The official @ably/ai-transport agent (Vercel codec) answering one invocation with a fake,
// deterministic reply (the same words as examples/agent.py's FakeLLM).
// Params: {host, port, key, channel, invocation: {inputEventId, sessionName}, tokens, delayMs}
import { Ably, core, emit, main, vercel } from './sdk.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function* fakeLLM(prompt, tokens, delayMs) {
  const words = [prompt ? `You said: ${prompt}.` : 'Hello.'];
  for (let i = 1; i < tokens; i++) words.push(` token-${i}`);
  yield { type: 'start' };
  yield { type: 'start-step' };
  yield { type: 'text-start', id: 't1' };
  for (const word of words.slice(0, Math.max(1, tokens))) {
    if (delayMs) await sleep(delayMs);
    yield { type: 'text-delta', id: 't1', delta: word };
  }
  yield { type: 'text-end', id: 't1' };
  yield { type: 'finish-step' };
  yield { type: 'finish', finishReason: 'stop' };
}

const lastUserText = (messages) => {
  for (const m of [...messages].reverse()) {
    if (m.message.role === 'user') return m.message.parts.filter((x) => x.type === 'text').map((x) => x.text).join('');
  }
  return '';
};

main(async (p) => {
  const client = new Ably.Realtime({
    key: p.key, endpoint: p.host, port: p.port, tls: false, clientId: 'js-agent', useBinaryProtocol: true,
    logLevel: 1,
  });
  const session = vercel.createAgentSession({ client, channelName: p.channel });
  await session.connect();
  const invocation = core.Invocation.fromJSON(p.invocation);
  const run = session.createRun(invocation);
  await core.pageUntilLocated(run, { inputEventId: invocation.inputEventId });
  await run.start();
  emit({ event: 'started', runId: run.runId });
  let result = { reason: 'complete' };
  while (run.hasInput()) {
    result = await run.pipe(fakeLLM(lastUserText(run.view.getMessages()), p.tokens ?? 10, p.delayMs ?? 0));
    if (result.reason !== 'complete') break;
  }
  await run.end({ reason: result.reason });
  await session.end();
  client.close();
  return { event: 'done', runId: run.runId, reason: result.reason };
});
