// The policy — defaults and users, an invalid edit refused with
// file:line:col while the last applied policy stays in force, and the compiled
// form trusted by the helper only when it and every folder above it are root's
// and writable by root alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { applyPolicy, mustApply, skipReason, testInstall } from '../helpers/install.js';
import { asUser, containerRecord, createUser, su } from '../helpers/users.js';
import { processGone, run, waitFor } from '../helpers/system.js';
import { cellshCommand } from '../helpers/session.js';
import { containerLimit } from '../helpers/cgroups.js';

const inst = testInstall();
const skip = skipReason(inst);

test('a user with no entry gets the defaults; an entry overrides them key by key', { skip }, async (t) => {
  const plain = createUser(t, inst!, 'p8-plain');
  const special = createUser(t, inst!, 'p8-special');
  mustApply(
    inst!,
    [
      'defaults:',
      '  hostname: "{user}-d"',
      '  limits: {pids: 77, memory: 300M}',
      'users:',
      `  ${special.name}:`,
      '    hostname: special-box',
      '    limits: {pids: 99}',
    ].join('\n'),
  );
  assert.equal((await cellshCommand(inst!, plain, 'hostname')).out, `${plain.name}-d\n`);
  assert.equal((await cellshCommand(inst!, special, 'hostname')).out, 'special-box\n');
  const pids = (u: typeof plain): string => containerLimit(inst!, u.uid, 'pids');
  const mem = (u: typeof plain): string => containerLimit(inst!, u.uid, 'memory');
  assert.deepEqual([pids(plain), pids(special)], ['77', '99']);
  assert.deepEqual(
    [mem(plain), mem(special)],
    [String(300 * 2 ** 20), String(300 * 2 ** 20)],
    'memory comes from defaults for both',
  );
});

test('an invalid edit is refused with file:line:col and the last applied policy stays in force', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'p8-bad');
  mustApply(inst!, 'defaults:\n  hostname: before\n');
  const compiled = readFileSync(inst!.compiledPolicy);
  const r = applyPolicy(inst!, 'defaults:\n  hostname: after\n  limits:\n    memory: lots\n  netwrok: host\n');
  assert.equal(r.status, 78);
  assert.match(
    r.err,
    new RegExp(`${inst!.policyFile}:4:13: defaults.limits.memory: expected a size like "512M", got "lots"`),
  );
  assert.match(
    r.err,
    new RegExp(`${inst!.policyFile}:5:3: defaults.netwrok: unknown key "netwrok"; did you mean "network"\\?`),
  );
  assert.ok(readFileSync(inst!.compiledPolicy).equals(compiled), 'the compiled policy is untouched');
  assert.equal((await cellshCommand(inst!, user, 'hostname')).out, 'before\n', 'logins keep the last good policy');
});

/** Make a change, check a login is refused with exit 78 and no container, undo it. */
async function refusedWhile(
  user: Parameters<typeof cellshCommand>[1],
  change: () => void,
  undo: () => void,
): Promise<string> {
  change();
  try {
    const r = await cellshCommand(inst!, user, 'echo should-not-run');
    assert.equal(r.status, 78, r.out + r.err);
    assert.equal(r.out, '');
    assert.equal(containerRecord(inst!, user), undefined, 'no container was created');
    return r.err;
  } finally {
    undo();
  }
}

test("the helper trusts the compiled policy only if it and its folders are root's and closed to others", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'p8-trust');
  mustApply(inst!);
  const file = inst!.compiledPolicy;
  const dir = dirname(file);
  const mode = (p: string): number => statSync(p).mode & 0o7777;
  const fileMode = mode(file);
  const dirMode = mode(dir);
  let err = await refusedWhile(
    user,
    () => chownSync(file, user.uid, user.gid),
    () => chownSync(file, 0, 0),
  );
  assert.match(err, /must belong to root/);
  err = await refusedWhile(
    user,
    () => chmodSync(file, 0o666),
    () => chmodSync(file, fileMode),
  );
  assert.match(err, /writable by root only/);
  err = await refusedWhile(
    user,
    () => chmodSync(file, 0o664),
    () => chmodSync(file, fileMode),
  );
  assert.match(err, /writable by root only/);
  err = await refusedWhile(
    user,
    () => chmodSync(dir, 0o777),
    () => chmodSync(dir, dirMode),
  );
  assert.match(err, new RegExp(`refusing to trust "${dir}"`));
  err = await refusedWhile(
    user,
    () => chownSync(dir, user.uid, user.gid),
    () => chownSync(dir, 0, 0),
  );
  assert.match(err, /must belong to root/);
  const copy = `${file}.real`;
  err = await refusedWhile(
    user,
    () => {
      renameSync(file, copy);
      symlinkSync(copy, file);
    },
    () => {
      rmSync(file);
      renameSync(copy, file);
    },
  );
  assert.match(err, /can't open/);
  // An edit by hand (even by root) that did not go through cellsh-admin apply.
  err = await refusedWhile(
    user,
    () => {
      copyFileSync(file, copy);
      writeFileSync(file, readFileSync(file, 'utf8').replace(/^pids \d+$/m, 'pids 9999999'));
    },
    () => renameSync(copy, file),
  );
  assert.match(err, /changed after cellsh-admin wrote it/);
  assert.equal((await cellshCommand(inst!, user, 'echo fine')).out, 'fine\n', 'restored, logins work again');
});

test('cellsh-admin enroll and unenroll set and restore the login shell and group; stop ends a container', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'p8-enroll', { enrolled: false });
  mustApply(inst!);
  const shellOf = (): string => run('getent', ['passwd', user.name]).out.trim().split(':')[6]!;
  const inGroup = (): boolean => run('id', ['-nG', user.name]).out.split(/\s+/).includes(inst!.group);
  assert.deepEqual([shellOf(), inGroup()], ['/bin/bash', false]);
  const en = run(inst!.admin, ['enroll', user.name]);
  assert.equal(en.status, 0, en.err);
  assert.deepEqual([shellOf(), inGroup()], [inst!.launcher, true]);
  assert.match(en.out, /applied: \d+ users? ->/);
  assert.equal((await su(user, 'nohup sleep 30 >/dev/null 2>&1 & echo in-container')).out, 'in-container\n');
  const rec = containerRecord(inst!, user)!;
  const stop = run(inst!.admin, ['stop', user.name]);
  assert.equal(stop.status, 0, stop.err);
  assert.equal(containerRecord(inst!, user), undefined);
  await waitFor('its init to be gone (a zombie until the host reaps it counts as gone)', () =>
    processGone(rec['init_pid']!),
  );
  assert.equal((await su(user, 'true')).status, 0);
  const un = run(inst!.admin, ['unenroll', user.name]);
  assert.equal(un.status, 0, un.err);
  assert.deepEqual([shellOf(), inGroup()], ['/bin/bash', false]);
  assert.equal(containerRecord(inst!, user), undefined, 'unenroll stops the container');
  const notRoot = await asUser(user, inst!.admin, ['enroll', user.name]);
  assert.equal(notRoot.status, 77);
  assert.equal(run(inst!.admin, ['enroll', 'cellsh-t-nosuchuser']).status, 64);
});

test('a stricter policy never leaves a running container less limited: the join applies it live', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'p8-stricter');
  const limit = (n: number): string => `users:\n  ${user.name}:\n    limits: {pids: ${n}}\n`;
  mustApply(inst!, limit(100));
  assert.equal((await cellshCommand(inst!, user, 'true')).status, 0);
  const first = containerRecord(inst!, user)!;
  mustApply(inst!, limit(50));
  assert.equal((await cellshCommand(inst!, user, 'echo joined')).out, 'joined\n');
  assert.equal(containerLimit(inst!, user.uid, 'pids'), '50');
  // kill 1 inside stops the container; the next login starts one with the policy's limits.
  await cellshCommand(inst!, user, 'kill 1');
  await waitFor('the container to stop', () => processGone(first['init_pid']!));
  mustApply(inst!, limit(200));
  assert.equal((await cellshCommand(inst!, user, 'echo fresh')).out, 'fresh\n');
  assert.notEqual(containerRecord(inst!, user)!['id'], first['id']);
  assert.equal(containerLimit(inst!, user.uid, 'pids'), '200');
});
