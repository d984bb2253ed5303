// AI Transport cancel: alice sends a prompt, the agent streams part of the reply and keeps
// going until its model call is aborted; alice's second device finds the active run in its
// view and cancels it. The agent's pipe must stop, the run must end `cancelled`, and every
// session must render the partial reply and the cancelled status.
import { scenario, withTimeout, closeAll, progress } from './lib.mjs';
import { clientSession, gate, invoke, userMessage, waitView, wireHistory } from './ait_lib.mjs';

const reply = (s) => s.messages.find((m) => m.role === 'assistant');

scenario(async (p) => {
  const partial = p.tokens.slice(0, p.pauseAfter).join('');
  const a = await clientSession(p, 'alice');
  const b = await clientSession(p, 'alice');
  const run = await withTimeout(a.view.send(userMessage(p.prompt)), 10000, 'send');
  const never = gate();
  const agent = invoke(p, run, { itemId: 'msg_cancel', tokens: p.tokens, pauseAfter: p.pauseAfter, resume: never.promise });
  await withTimeout(run.started, 10000, 'run.started');
  progress.runId = run.runId;

  const seen = await waitView(b.view, (s) => reply(s)?.text === partial && s.runs.some((r) => r.status === 'active'),
    'the second device sees the run streaming');
  const active = seen.runs.find((r) => r.status === 'active');
  await withTimeout(b.cancel(active.runId), 10000, 'cancel publish');
  const served = await withTimeout(agent, 10000, 'the agent to stop after the cancel');

  const finals = await Promise.all([a, b].map((s, i) =>
    waitView(s.view, (v) => v.runs.some((r) => r.status === 'cancelled'), `session ${i} sees the run cancelled`)));
  const wire = await wireHistory(p);
  await Promise.all([a, b].map((s) => s.close()));
  await closeAll();
  return { runId: run.runId, cancelledRunId: active.runId, seenBeforeCancel: seen, served, finals, wire,
    sessionErrors: progress.sessionErrors ?? [] };
});
