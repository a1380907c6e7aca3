// user_may_set in any order: the compiled record lists the keys once each in
// the helper's order, so apply's read-back check holds and show lists them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { runApply } from '../../../src/admin/apply.js';
import { runShow } from '../../../src/admin/show.js';
import { memoryLogger } from '../../../src/log.js';
import { canonicalUserMay } from '../../../src/policy/compile.js';
import { errorsOf, formatCompiled, parseCompiled } from '../../../src/policy/index.js';
import { buildText, sampleEnv, tempLayout, textSink, trustedTempBase } from '../../helpers/fixtures.js';

const OUT_OF_ORDER = 'defaults:\n  user_may_set: [limits.memory, rlimits.core, hostname, shell]\n';

test("user_may_set in a non-canonical order compiles to the helper's order and reads back as written", () => {
  const built = buildText(OUT_OF_ORDER);
  assert.deepEqual(errorsOf(built.diagnostics), []);
  assert.deepEqual(
    built.users.map((u) => u.user_may),
    [
      ['shell', 'hostname', 'memory', 'core'],
      ['shell', 'hostname', 'memory', 'core'],
    ],
  );
  assert.deepEqual(parseCompiled(formatCompiled(built.users, 'test')), built.users);
});

test('the compiled user_may list has each key once, whatever the order and repeats', () => {
  assert.deepEqual(canonicalUserMay(['limits.memory', 'hostname', 'limits.memory', 'hostname']), [
    'hostname',
    'memory',
  ]);
  assert.deepEqual(canonicalUserMay([]), []);
});

test('apply accepts user_may_set in any order, and show lists the keys as applied', {
  skip: trustedTempBase()
    ? false
    : "needs root and the root-owned test root of test/run.sh (apply trusts only root's policy files)",
}, () => {
  const tmp = tempLayout();
  try {
    mkdirSync(dirname(tmp.layout.policyFile), { recursive: true, mode: 0o755 });
    writeFileSync(tmp.layout.policyFile, OUT_OF_ORDER, { mode: 0o644 });
    const io = { out: textSink(), err: textSink() };
    const code = runApply({ layout: tmp.layout, env: sampleEnv(), log: memoryLogger().log, ...io, euid: 0, byUid: 0 });
    assert.equal(code, 0, io.err.text());
    const show = { out: textSink(), err: textSink() };
    assert.equal(runShow({ layout: tmp.layout, env: sampleEnv(), name: 'alice', json: false, ...show }), 0);
    assert.match(show.out.text(), /^the applied policy is up to date$/m);
    assert.match(
      show.out.text(),
      /^ {2}user_may_set +\[limits\.memory, rlimits\.core, hostname, shell\] +defaults at /m,
    );
  } finally {
    tmp.remove();
  }
});
