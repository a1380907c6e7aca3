// Issue point 7: memory, pids and cpu limits from the policy hold from the
// container's very first process; exceeding each is stopped inside the
// container only, and the host and other users carry on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mustApply, skipReason, testInstall, type TestInstall } from '../helpers/install.js';
import { containerRecord, createUser, type TestUser } from '../helpers/users.js';
import { cellshCommand } from '../helpers/session.js';

const inst = testInstall();
const skip = skipReason(inst);

/** The cgroup v1 file of a user's container for one controller, if this host has v1 there. */
function cgroupFile(i: TestInstall, user: TestUser, controller: string, file: string): string {
  return `/sys/fs/cgroup/${controller}/${i.cgroupName}/u${user.uid}/${file}`;
}

const v1 = existsSync('/sys/fs/cgroup/memory/cgroup.procs');
const skipV1 = skip || (v1 ? false : 'this host has no cgroup v1 memory hierarchy (cgroup v2 is tested in its own issue)');

test('7. a fork loop in the first login stops at the pids limit', { skip: skipV1 }, async (t) => {
  const user = createUser(t, inst!, 'p7-pids');
  mustApply(inst!, `users:\n  ${user.name}:\n    limits: {pids: 40}\n`);
  const forker = [
    'import os, sys, time',
    'kids = []',
    'err = 0',
    'try:',
    '    for i in range(500):',
    '        pid = os.fork()',
    '        if pid == 0:',
    '            time.sleep(30)',
    '            os._exit(0)',
    '        kids.append(pid)',
    'except OSError as e:',
    '    err = e.errno',
    'print(len(kids), err)',
    'for k in kids: os.kill(k, 9)',
  ].join('\n');
  // The first process of a brand-new container: the limit is there before it.
  assert.equal(containerRecord(inst!, user), undefined);
  const r = await cellshCommand(inst!, user, `python3 -c '${forker}'`);
  assert.equal(r.status, 0, r.err);
  const [forked, errno] = r.out.trim().split(' ').map(Number);
  assert.equal(errno, 11, 'fork fails with EAGAIN at the limit');
  assert.ok(forked! >= 30 && forked! < 40, `forked ${forked} before the limit of 40 (init, shell and python count too)`);
  assert.equal(readFileSync(cgroupFile(inst!, user, 'pids', 'pids.max'), 'utf8').trim(), '40');
  assert.equal((await cellshCommand(inst!, user, 'echo still-fine')).out, 'still-fine\n', 'the container lives on');
});

test('7. an allocation past the memory limit is killed inside the container only; the host and others carry on', { skip: skipV1 }, async (t) => {
  const user = createUser(t, inst!, 'p7-mem');
  const other = createUser(t, inst!, 'p7-memother');
  mustApply(inst!, `users:\n  ${user.name}:\n    limits: {memory: 64M}\n`);
  const hog = 'python3 -c "b = [bytearray(8 << 20) for _ in range(64)]; print(\'survived\')"';
  const r = await cellshCommand(inst!, user, hog);
  assert.equal(r.status, 137, `the hog dies of SIGKILL (the OOM killer): ${r.out}${r.err}`);
  assert.doesNotMatch(r.out, /survived/);
  const limit = Number(readFileSync(cgroupFile(inst!, user, 'memory', 'memory.limit_in_bytes'), 'utf8'));
  assert.equal(limit, 64 * 1024 * 1024);
  assert.match(readFileSync(cgroupFile(inst!, user, 'memory', 'memory.oom_control'), 'utf8'), /^oom_kill [1-9]/m,
    'the OOM killer acted in this container\'s cgroup');
  const after = await cellshCommand(inst!, user, 'cat /proc/1/comm; echo alive');
  assert.equal(after.out, 'cellsh-init\nalive\n', 'the container and its init survive');
  // Another user, with the default 2G limit, can do what the hog could not.
  const big = await cellshCommand(inst!, other, hog);
  assert.equal(big.out, 'survived\n', big.err);
});

test('7. a cpu-bound container gets its share of CPU and no more', { skip: skipV1 }, async (t) => {
  const user = createUser(t, inst!, 'p7-cpu');
  mustApply(inst!, `users:\n  ${user.name}:\n    limits: {cpu: 0.5}\n`);
  // Two busy processes for 3 s of wall time: unlimited they would use about 6 CPU
  // seconds on two cores (at least 3 on one); at 0.5 CPU they get about 1.5.
  const burn = [
    'import os, time',
    'def spin(t):',
    '    end = time.time() + t',
    '    while time.time() < end: pass',
    'kids = []',
    'for i in range(2):',
    '    pid = os.fork()',
    '    if pid == 0:',
    '        spin(3); os._exit(0)',
    '    kids.append(pid)',
    'for k in kids: os.waitpid(k, 0)',
    't = os.times()',
    'print(round(t.children_user + t.children_system, 2))',
  ].join('\n');
  const r = await cellshCommand(inst!, user, `python3 -c '${burn}'`);
  assert.equal(r.status, 0, r.err);
  const used = Number(r.out.trim());
  assert.ok(used > 1.0 && used < 2.1, `used ${used} CPU seconds in 3 s at a 0.5 CPU limit (expected about 1.5)`);
  assert.equal(readFileSync(cgroupFile(inst!, user, 'cpu', 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
});
