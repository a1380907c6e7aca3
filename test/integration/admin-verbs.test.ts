// The admin's verbs on a real installation, real users and real groups:
// groups: entries and policy.d drop-ins reaching containers, show and diff
// telling why and what changes, edit through $EDITOR, logs (and --follow).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { asUser, createUser } from '../helpers/users.js';
import { must, run, waitFor } from '../helpers/system.js';
import { cellshCommand } from '../helpers/session.js';
import { containerLimit } from '../helpers/cgroups.js';

const inst = testInstall();
const skip = skipReason(inst);

/** A real Unix group cellsh-t-<suffix>, removed after the test. */
function createGroup(t: TestContext, suffix: string): { name: string; gid: number } {
  const name = `cellsh-t-${suffix}`;
  run('groupdel', [name]);
  must('groupadd', [name]);
  t.after(() => run('groupdel', [name]));
  return { name, gid: Number(must('getent', ['group', name]).out.split(':')[2]) };
}

/** A drop-in file of the test installation, removed after the test. */
function dropin(t: TestContext, name: string, text: string): string {
  const file = join(inst!.policyDir, name);
  writeFileSync(file, text, { mode: 0o644 });
  t.after(() => rmSync(file, { force: true }));
  return file;
}

const pidsMax = (uid: number): string => containerLimit(inst!, uid, 'pids');

test('admin: a groups: entry (NSS) and a policy.d drop-in reach the container; show says where each value came from', {
  skip,
}, async (t) => {
  const dev = createGroup(t, 'gdev');
  const member = createUser(t, inst!, 'av-member');
  const other = createUser(t, inst!, 'av-other');
  must('usermod', ['-aG', dev.name, member.name]);
  mustApply(inst!, `defaults:\n  limits: {pids: 70}\ngroups:\n  ${dev.name}:\n    limits: {pids: 90}\n`);
  const file = dropin(t, '50-av.yaml', `users:\n  ${member.name}:\n    hostname: from-dropin\n`);
  must(inst!.admin, ['apply']);
  assert.equal((await cellshCommand(inst!, member, 'hostname')).out, 'from-dropin\n');
  await cellshCommand(inst!, other, 'true');
  assert.deepEqual([pidsMax(member.uid), pidsMax(other.uid)], ['90', '70']);

  const show = must(inst!.admin, ['show', member.name]).out;
  assert.match(
    show,
    new RegExp(
      `^${member.name} \\(uid ${member.uid}; groups [^)]*${dev.name}[^)]*\\): enrolled\\nthe applied policy is up to date\\n`,
    ),
  );
  assert.match(show, new RegExp(`\\n {2}limits\\.pids +90 +groups\\.${dev.name} at ${inst!.policyFile}:5:20\\n`));
  assert.match(
    show,
    new RegExp(`\\n {2}hostname +"from-dropin" = from-dropin +users\\.${member.name} at ${file}:3:15\\n`),
  );
  const json = JSON.parse(must(inst!.admin, ['show', other.name, '--json']).out) as {
    settings: Record<string, { layer: string }>;
  };
  assert.equal(json.settings['limits.pids']!.layer, 'defaults');
  assert.equal(run(inst!.admin, ['show', 'cellsh-t-nobody-here']).status, 64);
});

test('admin: diff shows what apply would change (a new group member too), and nothing after apply', {
  skip,
}, async (t) => {
  const big = createGroup(t, 'gbig');
  const user = createUser(t, inst!, 'av-diff');
  mustApply(inst!, `defaults:\n  limits: {pids: 70}\ngroups:\n  ${big.name}:\n    limits: {pids: 300, memory: 3G}\n`);
  assert.deepEqual(
    [run(inst!.admin, ['diff']).status, run(inst!.admin, ['diff']).out],
    [0, 'no changes: the applied policy says what the files say\n'],
  );
  must('usermod', ['-aG', big.name, user.name]);
  const diff = run(inst!.admin, ['diff']);
  assert.equal(diff.status, 1);
  assert.match(
    diff.out,
    new RegExp(
      `\\n? {2}${user.name}: limits\\.memory 2G -> 3G \\(live, at the next login\\)\\n {2}${user.name}: limits\\.pids 70 -> 300 \\(live, at the next login\\)\\n`,
    ),
  );
  assert.match(diff.out, new RegExp(`${user.name}: groups .*${big.name} \\(${big.gid}\\) \\(from the next session\\)`));
  must(inst!.admin, ['apply']);
  assert.equal(run(inst!.admin, ['diff']).status, 0);
  await cellshCommand(inst!, user, 'true');
  assert.equal(pidsMax(user.uid), '300');
});

test('admin: edit runs $EDITOR on a copy, refuses a broken result, saves and applies a good one', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'av-edit');
  mustApply(inst!, 'defaults:\n  limits: {pids: 70}\n');
  const env = { PATH: '/usr/bin:/bin', EDITOR: 'sed -i s/pids:\\ 70/pids:\\ zero/' };
  const bad = run(inst!.admin, ['edit'], { env });
  assert.equal(bad.status, 78);
  assert.match(bad.err, new RegExp(`^${inst!.policyFile}:2:18: defaults\\.limits\\.pids: expected a whole number`));
  assert.equal(readFileSync(inst!.policyFile, 'utf8'), 'defaults:\n  limits: {pids: 70}\n');
  const good = run(inst!.admin, ['edit'], { env: { ...env, EDITOR: 'sed -i s/pids:\\ 70/pids:\\ 71/' } });
  assert.equal(good.status, 0, good.err);
  assert.match(good.out, /^saved .*\napplied: \d+ users? -> /);
  assert.equal(readFileSync(inst!.policyFile, 'utf8'), 'defaults:\n  limits: {pids: 71}\n');
  await cellshCommand(inst!, user, 'true');
  assert.equal(pidsMax(user.uid), '71');
});

test("admin: logs shows a user's events as readable lines, and --follow prints new ones as they come", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'av-logs');
  mustApply(inst!);
  await cellshCommand(inst!, user, 'echo hi');
  const lines = must(inst!.admin, ['logs', '--user', user.name]).out.trimEnd().split('\n');
  assert.deepEqual(
    lines.map((l) => l.split(/ {2,}/)[1]),
    ['login', 'container-start', 'exit'],
  );
  assert.match(
    lines[0]!,
    new RegExp(
      `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d {2}login +${user.name} +session=\\w+ {2}mode=command {2}tty=false {2}command="echo hi"`,
    ),
  );
  assert.equal(must(inst!.admin, ['logs', '--user', String(user.uid), '-n', '1']).out.split(/ {2,}/)[1], 'exit');

  const follow = spawn(inst!.admin, ['logs', '-f', '--user', user.name, '-n', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (follow.exitCode === null) follow.kill('SIGKILL');
  });
  let out = '';
  follow.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(out, '', '-n 0 prints nothing of the past');
  await cellshCommand(inst!, user, 'true');
  await waitFor('the new login in --follow', () => /container-join/.test(out) && /\bexit\b/.test(out));
  follow.kill('SIGINT');
  const code = await new Promise<number | null>((r) => follow.on('exit', (c) => r(c)));
  assert.equal(code, 0, 'Ctrl-C ends --follow cleanly');
});

test('admin: stop and restart end the container, and each session says why as it ends', { skip }, async (t) => {
  const user = createUser(t, inst!, 'av-stop');
  mustApply(inst!);
  const first = cellshCommand(inst!, user, 'sleep 60; echo not-reached');
  const second = cellshCommand(inst!, user, 'sleep 60');
  await waitFor(
    'two sessions',
    () =>
      run('pgrep', ['-u', String(user.uid), '-x', 'sleep'])
        .out.trim()
        .split('\n')
        .filter(Boolean).length >= 2,
  );
  const stop = run(inst!.admin, ['stop', user.name, '--reason', 'disk maintenance until 14:00']);
  assert.equal(stop.status, 0, stop.err);
  for (const session of [await first, await second]) {
    assert.notEqual(session.status, 0);
    assert.equal(session.out, '');
    assert.match(
      session.err,
      /cellsh: your container was stopped by the administrator: disk maintenance until 14:00\n$/,
    );
  }
  // A new container's sessions do not repeat the old notice.
  const again = await cellshCommand(inst!, user, 'true');
  assert.deepEqual([again.status, again.err], [0, '']);
  const third = cellshCommand(inst!, user, 'sleep 60');
  await waitFor('a session', () => run('pgrep', ['-u', String(user.uid), '-x', 'sleep']).status === 0);
  assert.equal(run(inst!.admin, ['restart', user.name]).status, 0);
  assert.match(
    (await third).err,
    /cellsh: your container was restarted by the administrator: no reason given; log in again\n$/,
  );

  const bad = run(inst!.admin, ['stop', user.name, '--reason', 'two\nlines']);
  assert.equal(bad.status, 64);
  assert.match(bad.err, /--reason wants 1 to 200 characters without control characters/);
  const byUser = await asUser(user, inst!.helper, ['stop', String(user.uid), '--notice', 'forged']);
  assert.equal(byUser.status, 77, 'only root may leave a notice');
});
