// The helper's C unit tests (src/helper/test-units.c, built with ASan and UBSan
// by test/run.sh): each TAP line becomes a test here, so a failure shows by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { packageRoot } from '../../helpers/fixtures.js';

const binary = join(packageRoot(), 'build', 'test-units');
const skip = existsSync(binary) ? false : 'build/test-units is not built (test/run.sh builds it)';
const run = skip ? undefined : spawnSync(binary, [], { encoding: 'utf8' });

test('the C unit-test binary runs clean under the sanitizers', { skip }, () => {
  assert.equal(run!.status, 0, run!.stdout + run!.stderr);
  const plan = /^1\.\.(\d+)$/m.exec(run!.stdout);
  assert.ok(plan, 'a TAP plan');
  assert.equal(run!.stdout.split('\n').filter((l) => /^ok \d+ /.test(l)).length, Number(plan[1]));
});

for (const line of (run?.stdout ?? '').split('\n').filter((l) => /^(not )?ok \d+ - /.test(l))) {
  const [name, why] = line.replace(/^(not )?ok \d+ - /, '').split(' # SKIP ');
  test(`helper: ${name}`, { skip: why ?? false }, () => assert.ok(line.startsWith('ok '), line));
}
