// AI Transport end to end: alice sends a prompt from one client session, an SDK agent streams
// the reply token by token, alice's second session (another device) renders it too, and a
// third session (bob) that joins while the agent is paused mid-reply and loads history renders
// the reply in progress, then complete. A fourth (carol) joins mid-reply without loading
// history: all it has is the live subscription, whose first delivery of the reply must carry
// the text so far. Finally the raw channel history shows the reply as one aggregated message.
import { scenario, withTimeout, closeAll, progress } from './lib.mjs';
import { clientSession, gate, invoke, snapshot, userMessage, waitRun, waitView, wireHistory } from './ait_lib.mjs';

const reply = (s) => s.messages.find((m) => m.role === 'assistant');

scenario(async (p) => {
  const full = p.tokens.join('');
  const partial = p.tokens.slice(0, p.pauseAfter).join('');
  const a = await clientSession(p, 'alice');
  const b = await clientSession(p, 'alice');

  const run = await withTimeout(a.view.send(userMessage(p.prompt)), 10000, 'send');
  const resume = gate();
  const agent = invoke(p, run, { itemId: 'msg_reply', tokens: p.tokens, pauseAfter: p.pauseAfter, resume: resume.promise });
  await withTimeout(run.started, 10000, 'run.started on the sending session');
  progress.runId = run.runId;
  const seenByA = await waitView(a.view, (s) => reply(s)?.text === partial, 'alice sees the first tokens');

  const c = await clientSession(p, 'bob');
  const revealed = await withTimeout(c.view.loadOlder(10), 10000, 'late joiner loadOlder');
  const joined = await waitView(c.view, (s) => reply(s)?.text === partial, 'late joiner sees the reply so far');
  const d = await clientSession(p, 'carol');
  resume.open();

  const finals = await Promise.all([a, b, c].map((s, i) =>
    waitView(s.view, (v) => reply(v)?.text === full && v.runs.some((r) => r.status === 'complete'),
      `session ${i} renders the complete reply`)));
  const liveOnly = await waitRun(d, run.runId, (r) => r?.status === 'complete', 'carol folds the run from live');
  const liveOnlyView = snapshot(d.view);
  const served = await withTimeout(agent, 10000, 'agent to finish');

  const wire = await wireHistory(p);
  await Promise.all([a, b, c, d].map((s) => s.close()));
  await closeAll();
  return {
    runId: run.runId,
    served,
    seenByA,
    lateJoin: { revealed: revealed.length, ...joined },
    finals,
    liveOnly,
    liveOnlyView,
    wire,
    sessionErrors: progress.sessionErrors ?? [],
  };
});
