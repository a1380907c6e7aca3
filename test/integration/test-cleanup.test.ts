// Tests clean up users, mounts and cgroups even when they fail.
// A fixture test fails on purpose mid-session; afterwards nothing of it is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipReason, testInstall } from '../helpers/install.js';
import { packageRoot } from '../helpers/fixtures.js';
import { run, runAsync } from '../helpers/system.js';
import { cgroupDirs } from '../helpers/cgroups.js';

const inst = testInstall();
const skip = skipReason(inst);

test('a test that fails midway still removes its user, home, container, cgroups and processes', { skip }, async () => {
  const fixture = join(packageRoot(), 'dist/test/fixtures/cleanup/fails-after-login.js');
  // A run of its own: without NODE_TEST_CONTEXT, which makes node act as this runner's child.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT'));
  const r = await runAsync(process.execPath, ['--test', '--test-reporter=tap', fixture], { env, timeout: 120_000 });
  assert.notEqual(r.status, 0, 'the fixture test failed as it should');
  assert.match(r.out, /deliberate failure/);
  const uid = /UID=(\d+)/.exec(r.out)?.[1];
  assert.ok(uid, r.out);
  assert.notEqual(run('getent', ['passwd', 'cellsh-t-cleanup-fails']).status, 0, 'the user is gone');
  assert.ok(!existsSync('/home/cellsh-t-cleanup-fails'), 'the home is gone');
  assert.ok(!existsSync(`${inst!.stateDir}/${uid}.state`), 'the container record is gone');
  assert.notEqual(run('pgrep', ['-U', uid!]).status, 0, 'no process of the user is left');
  for (const dir of cgroupDirs(inst!.cgroupName, Number(uid))) assert.ok(!existsSync(dir), `no cgroup ${dir}`);
  assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), /cellsh-t-cleanup-fails/, 'no mount on the host');
});
