'use strict';
/*
 * A mocha reporter for the conformance runner: writes every test the file defines, with its
 * state (passed, failed, pending, notrun) and error message, to the path in
 * $CONFORMANCE_RESULTS. The file is rewritten after every test, so when the runner kills a
 * hanging file the tests finished so far are kept. Mocha's own json reporter writes to stdout,
 * which the SDK suites' console output interleaves with.
 */
const fs = require('fs');
// the reporter lives outside the SDK checkout: take mocha from the checkout mocha runs in
const Mocha = require(require.resolve('mocha', { paths: [process.cwd()] }));

const { EVENT_RUN_BEGIN, EVENT_TEST_BEGIN, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING, EVENT_RUN_END } =
  Mocha.Runner.constants;

function collect(suite, into) {
  for (const test of suite.tests) into.push(test);
  for (const child of suite.suites) collect(child, into);
  return into;
}

function ConformanceReporter(runner) {
  Mocha.reporters.Base.call(this, runner);
  const out = process.env.CONFORMANCE_RESULTS;
  const byTitle = new Map();
  const hookFailures = [];
  let current = null;
  let finished = false;

  const write = () => {
    if (!out) return;
    const doc = { finished, current, tests: [...byTitle.values()], hookFailures };
    fs.writeFileSync(out + '.tmp', JSON.stringify(doc, null, 1));
    fs.renameSync(out + '.tmp', out);
  };
  const record = (test, state, err) => {
    const entry = byTitle.get(test.fullTitle()) || { fullTitle: test.fullTitle() };
    entry.state = state;
    entry.duration = test.duration || 0;
    if (err) entry.error = String((err && err.message) || err).slice(0, 2000);
    byTitle.set(entry.fullTitle, entry);
  };

  runner.on(EVENT_RUN_BEGIN, () => {
    for (const test of collect(runner.suite, [])) {
      byTitle.set(test.fullTitle(), { fullTitle: test.fullTitle(), state: test.pending ? 'pending' : 'notrun' });
    }
    write();
  });
  runner.on(EVENT_TEST_BEGIN, (test) => {
    current = test.fullTitle();
    write();
  });
  runner.on(EVENT_TEST_PASS, (test) => {
    record(test, 'passed');
    current = null;
    write();
  });
  runner.on(EVENT_TEST_PENDING, (test) => {
    record(test, 'pending');
    write();
  });
  runner.on(EVENT_TEST_FAIL, (test, err) => {
    if (test.type === 'hook') {
      hookFailures.push({ title: test.fullTitle(), error: String((err && err.message) || err).slice(0, 2000) });
    } else {
      record(test, 'failed', err);
      current = null;
    }
    write();
  });
  runner.on(EVENT_RUN_END, () => {
    finished = true;
    current = null;
    write();
  });
}

module.exports = ConformanceReporter;
