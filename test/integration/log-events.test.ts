// One JSON line (pino's format) per event — login,
// container-start, container-join, exit — with user, uid, session, container,
// command, exit status and duration, in a log the user can neither rewrite nor
// read; errors a person sees are one or two plain lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { logRecords, mustApply, skipReason, testInstall } from '../helpers/install.js';
import { asUser, createUser } from '../helpers/users.js';
import { cellshCommand } from '../helpers/session.js';

const inst = testInstall();
const skip = skipReason(inst);

test('each login writes login, container-start or container-join, and exit lines', { skip }, async (t) => {
  const user = createUser(t, inst!, 'log-events');
  mustApply(inst!);
  await cellshCommand(inst!, user, 'exit 3');
  await cellshCommand(inst!, user, 'sleep 0.2');
  const mine = logRecords(inst!).filter((r) => r['user'] === user.name);
  assert.deepEqual(
    mine.map((r) => r['event']),
    ['login', 'container-start', 'exit', 'login', 'container-join', 'exit'],
  );
  for (const r of mine) {
    assert.deepEqual(
      [typeof r['level'], typeof r['time'], typeof r['pid'], typeof r['hostname'], r['msg']],
      ['number', 'number', 'number', 'string', r['event']],
      "pino's fields",
    );
    assert.equal(r['uid'], user.uid);
    assert.match(String(r['session']), /^[0-9a-f]{12}$/);
  }
  const [login1, start, exit1, login2, join, exit2] = mine;
  assert.deepEqual([login1!['mode'], login1!['command'], login1!['tty']], ['command', 'exit 3', false]);
  assert.equal(start!['session'], login1!['session']);
  assert.match(String(start!['container']), /^[0-9a-f]{12}$/);
  assert.equal(join!['container'], start!['container']);
  assert.equal(exit1!['status'], 3);
  assert.equal(exit2!['status'], 0);
  assert.ok(Number(exit2!['duration_ms']) >= 200, `duration ${exit2!['duration_ms']}`);
  assert.equal(exit2!['session'], login2!['session']);
  assert.notEqual(login2!['session'], login1!['session']);
});

test('a command cannot forge log lines: newlines and escapes stay inside one JSON string', { skip }, async (t) => {
  const user = createUser(t, inst!, 'log-forge');
  mustApply(inst!);
  const evil = 'true\n{"event":"login","uid":0}\x1b]2;pwn\x07';
  await cellshCommand(inst!, user, evil);
  const login = logRecords(inst!).filter((r) => r['user'] === user.name && r['event'] === 'login');
  assert.equal(login.length, 1);
  assert.equal(login[0]!['command'], evil);
  assert.ok(!logRecords(inst!).some((r) => r['uid'] === 0 && r['event'] === 'login'));
});

test('the log belongs to root: the user can neither rewrite nor read it', { skip }, async (t) => {
  const user = createUser(t, inst!, 'log-perms');
  mustApply(inst!);
  await cellshCommand(inst!, user, 'true');
  const st = statSync(inst!.logFile);
  assert.deepEqual([st.uid, st.mode & 0o777], [0, 0o600]);
  const before = statSync(inst!.logFile).size;
  const w = await asUser(user, '/bin/sh', [
    '-c',
    `echo forged >> ${inst!.logFile}; : > ${inst!.logFile}; cat ${inst!.logFile}`,
  ]);
  assert.match(w.err, /Permission denied/);
  assert.ok(statSync(inst!.logFile).size >= before);
});

test('refusals are logged, and the person sees one or two plain lines', { skip }, async (t) => {
  const user = createUser(t, inst!, 'log-refused');
  mustApply(inst!);
  const late = createUser(t, inst!, 'log-late'); // enrolled after the policy was applied
  // Through cellsh: the login shell names the user and the admin's command.
  const r = await cellshCommand(inst!, late, 'true');
  assert.equal(r.status, 77);
  assert.equal(
    r.err,
    `cellsh: ${late.name} is not enrolled in cellsh, so there is no container to log in to\n` +
      `cellsh: ask your administrator to run "cellsh-admin enroll ${late.name}"\n`,
  );
  // The helper itself (run directly) refuses too, and logs it.
  const h = await asUser(late, inst!.helper, ['run', 'true']);
  assert.equal(h.status, 77);
  assert.match(
    h.err,
    /^cellsh: uid \d+ is not enrolled in cellsh; ask your administrator to run "cellsh-admin enroll"\n$/,
  );
  const denied = logRecords(inst!)
    .filter((x) => x['uid'] === late.uid && x['event'] === 'denied')
    .at(-1);
  assert.match(String(denied?.['reason']), /not enrolled/);
  const usage = await asUser(user, inst!.launcher, ['-x']);
  assert.equal(usage.status, 64);
  assert.ok(usage.err.trim().split('\n').length <= 2 && !/\n\s+at /.test(usage.err), usage.err);
});
