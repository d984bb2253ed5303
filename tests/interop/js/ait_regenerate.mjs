// AI Transport regenerate: a first reply completes, then alice regenerates it from one device.
// The agent answers the regenerate with a new run whose parent is the same prompt, so every
// session (alice's two devices and bob's) shows a branch point with both replies as siblings,
// the newest selected by default, and can switch back to the first. A session that connects
// afterwards and loads history rebuilds the same branch point from the aggregated replies.
import { scenario, withTimeout, closeAll, progress } from './lib.mjs';
import { clientSession, invoke, render, userMessage, waitView } from './ait_lib.mjs';

const assistant = (s) => s.messages.filter((m) => m.role === 'assistant');

scenario(async (p) => {
  const first = p.firstTokens.join('');
  const second = p.secondTokens.join('');
  const sessions = [await clientSession(p, 'alice'), await clientSession(p, 'alice'), await clientSession(p, 'bob')];
  const [a] = sessions;

  const run = await withTimeout(a.view.send(userMessage(p.prompt)), 10000, 'send');
  const firstServed = await withTimeout(invoke(p, run, { itemId: 'msg_first', tokens: p.firstTokens }), 15000, 'first reply');
  const before = await Promise.all(sessions.map((s, i) =>
    waitView(s.view, (v) => assistant(v)[0]?.text === first && v.runs[0]?.status === 'complete', `session ${i} first reply`)));
  const target = assistant(before[0])[0].id;

  const regen = await withTimeout(a.view.regenerate(target), 10000, 'regenerate');
  const secondServed = await withTimeout(invoke(p, regen, { itemId: 'msg_second', tokens: p.secondTokens }), 15000,
    'regenerated reply');
  progress.regenRunId = regen.runId;

  const results = [];
  for (const [i, s] of sessions.entries()) {
    const after = await waitView(s.view,
      (v) => assistant(v).length === 1 && assistant(v)[0].text === second && v.runs.every((r) => r.status === 'complete'),
      `session ${i} shows the regenerated reply`);
    const newId = assistant(after)[0].id;
    const branch = s.view.branchSelection(newId);
    const siblings = branch.siblings.map((message) => render({ codecMessageId: null, message }).text);
    const { hasSiblings, index } = branch;
    branch.select(0);
    const switched = await waitView(s.view, (v) => assistant(v)[0]?.text === first, `session ${i} switches to the first reply`);
    results.push({ after, hasSiblings, index, siblings, switched });
  }
  const late = await clientSession(p, 'dave');
  await withTimeout(late.view.loadOlder(10), 10000, 'late session loadOlder');
  const lateView = await waitView(late.view, (v) => assistant(v)[0]?.text === second, 'late session shows the newest reply');
  const lateBranch = late.view.branchSelection(assistant(lateView)[0].id);
  const lateSiblings = lateBranch.siblings.map((message) => render({ codecMessageId: null, message }).text);
  sessions.push(late);
  await Promise.all(sessions.map((s) => s.close()));
  await closeAll();
  return {
    target, firstRunId: run.runId, regenRunId: regen.runId, firstServed, secondServed, before, results,
    late: { view: lateView, siblings: lateSiblings, index: lateBranch.index },
    sessionErrors: progress.sessionErrors ?? [],
  };
});
