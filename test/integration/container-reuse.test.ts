// Reuse — a second login joins the running container; ten
// simultaneous first logins create exactly one; a container whose init died is
// replaced, never joined by mistake, even when its pid now names another process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { logRecords, mustApply, skipReason, testInstall } from '../helpers/install.js';
import { containerRecord, createUser, su } from '../helpers/users.js';
import { must, processGone, run, sysctlUnwritable, waitFor } from '../helpers/system.js';
import { cellshCommand, interactiveLogin } from '../helpers/session.js';

const inst = testInstall();
const skip = skipReason(inst);
/** Where the kernel takes the last pid it handed out: writing it picks the next one. */
const NS_LAST_PID = '/proc/sys/kernel/ns_last_pid';

test('a second login joins the running container and sees what the first started', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p6-join');
  mustApply(inst!);
  const first = await interactiveLogin(user);
  t.after(() => first.kill());
  await first.type('sleep 4321\r');
  await new Promise((r) => setTimeout(r, 500));
  const second = await su(user, 'ps -e -o args=; readlink /proc/1/ns/pid');
  assert.match(second.out, /^sleep 4321$/m, second.out);
  const id = containerRecord(inst!, user)!['id'];
  const events = logRecords(inst!)
    .filter((r) => r['user'] === user.name)
    .map((r) => r['event']);
  assert.deepEqual(events.filter((e) => e === 'container-start').length, 1);
  assert.ok(events.includes('container-join'));
  first.send('\x03');
  await first.type('exit\r');
  await first.exited;
  assert.equal(containerRecord(inst!, user)!['id'], id, 'the container outlives the session that started it');
});

test('ten logins at the same moment for a user with no container create exactly one', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p6-race');
  mustApply(inst!);
  const logins = await Promise.all(
    Array.from({ length: 10 }, () => su(user, 'readlink /proc/self/ns/pid /proc/self/ns/mnt')),
  );
  for (const l of logins) assert.equal(l.status, 0, l.err);
  const distinct = new Set(logins.map((l) => l.out));
  assert.equal(distinct.size, 1, [...distinct].join('\n'));
  const starts = logRecords(inst!).filter((r) => r['user'] === user.name && r['event'] === 'container-start');
  assert.equal(starts.length, 1);
  assert.equal(
    run('pgrep', ['-U', String(user.uid), '-x', 'cellsh-init'])
      .out.trim()
      .split('\n').length,
    1,
    'one init',
  );
});

test('a container whose init died is detected and replaced', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p6-dead');
  mustApply(inst!);
  assert.equal((await cellshCommand(inst!, user, 'true')).status, 0);
  const before = containerRecord(inst!, user)!;
  must('kill', ['-KILL', before['init_pid']!]);
  await waitFor('the init to die', () => processGone(before['init_pid']!));
  const r = await cellshCommand(inst!, user, 'cat /proc/1/comm; readlink /proc/self/ns/pid');
  assert.equal(r.status, 0, r.err);
  const after = containerRecord(inst!, user)!;
  assert.notEqual(after['id'], before['id']);
  assert.notEqual(after['init_start'], before['init_start']);
  assert.match(r.out, /^cellsh-init\n/);
});

test("when the dead init's pid is reused by another process, the login never joins it", { skip }, async (t) => {
  const cannot = sysctlUnwritable(NS_LAST_PID);
  if (cannot) return t.skip(`${cannot}, so a pid can't be recycled on purpose`);
  const user = createUser(t, inst!, 'p6-reuse');
  mustApply(inst!);
  assert.equal((await cellshCommand(inst!, user, 'true')).status, 0);
  const before = containerRecord(inst!, user)!;
  const pid = Number(before['init_pid']);
  must('kill', ['-KILL', String(pid)]);
  // Reaped, not just dead: a zombie still holds its pid.
  await waitFor('the init to be reaped', () => !existsSync(`/proc/${pid}`));
  // Recycle the pid for one of the user's own processes on the host (ns_last_pid
  // picks the next pid the kernel hands out), as an attacker cycling pids would.
  let impostor: ReturnType<typeof spawn> | undefined;
  for (let attempt = 0; attempt < 50 && impostor?.pid !== pid; attempt++) {
    impostor?.kill('SIGKILL');
    writeFileSync(NS_LAST_PID, String(pid - 1));
    impostor = spawn(
      'setpriv',
      ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', '/bin/sleep', '300'],
      { stdio: 'ignore' },
    );
    await new Promise((r) => setTimeout(r, 50));
  }
  t.after(() => impostor?.kill('SIGKILL'));
  if (impostor?.pid !== pid) return t.skip(`could not recycle pid ${pid} (the host is busy forking)`);
  assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /^\/bin\/sleep/);
  const r = await cellshCommand(inst!, user, 'readlink /proc/self/ns/pid; ps -e -o args=');
  assert.equal(r.status, 0, r.err);
  assert.notEqual(
    r.out.split('\n')[0],
    run('readlink', [`/proc/${pid}/ns/pid`]).out.trim(),
    "not the impostor's namespaces",
  );
  assert.doesNotMatch(r.out, /sleep 300/);
  const after = containerRecord(inst!, user)!;
  assert.notEqual(after['init_pid'], String(pid));
  assert.notEqual(after['id'], before['id']);
});
