// The real cellsh-admin on the private installation: a policy file others could
// have written is refused by apply (exit 78, the compiled policy unchanged) and
// reported by check of the installed policy, while check FILE of a draft is not.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { run } from '../helpers/system.js';

const inst = testInstall();
const skip = skipReason(inst);

/** A drop-in of the test installation, removed after the test. */
function dropin(t: TestContext, name: string, text: string): string {
  const file = join(inst!.policyDir, name);
  writeFileSync(file, text, { mode: 0o644 });
  t.after(() => rmSync(file, { force: true }));
  return file;
}

test('admin: apply refuses a group-writable drop-in and changes nothing; check says why, check FILE does not', {
  skip,
}, (t) => {
  mustApply(inst!, 'defaults:\n  limits: {pids: 70}\n');
  const before = readFileSync(inst!.compiledPolicy);
  const file = dropin(t, '50-trust.yaml', 'defaults:\n  limits: {pids: 900}\n');
  chmodSync(file, 0o664);
  const reason = `${file}: refusing to trust it: writable by group (mode 0664); run "chmod go-w ${file}" (only root may change what users get)`;
  const apply = run(inst!.admin, ['apply']);
  assert.equal(apply.status, 78, apply.err);
  assert.ok(apply.err.split('\n').includes(reason), apply.err);
  assert.deepEqual(readFileSync(inst!.compiledPolicy), before, 'the compiled policy is unchanged');
  const check = run(inst!.admin, ['check']);
  assert.equal(check.status, 78);
  assert.ok(check.err.split('\n').includes(reason), check.err);
  assert.equal(
    run(inst!.admin, ['check', inst!.policyFile, file]).status,
    0,
    'a draft named on the command line is checked for what it says only',
  );
  chmodSync(file, 0o644);
  assert.equal(run(inst!.admin, ['apply']).status, 0);
  assert.notDeepEqual(readFileSync(inst!.compiledPolicy), before);
});
