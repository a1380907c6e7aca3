// A user's ~/.config/cellsh.yaml is read by the login shell on the host,
// outside the container and its cgroups. Shaped from inside the container
// into a link to another user's file, a FIFO, a link to /dev/zero or a sparse
// giant, it must not reveal a byte of what the container hides, must not hang
// or swell the host-side Node, and the login must go on with the admin's values.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, writeFileSync } from 'node:fs';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { runAsync, type Result } from '../helpers/system.js';
import { cellshCommand } from '../helpers/session.js';

const inst = testInstall();
const skip = skipReason(inst);
const SECRET = 'hostreads-victim-secret-5c1e';
/** A login that takes longer than this has hung on the file. */
const LOGIN_LIMIT_MS = 15_000;
const IGNORED = /cellsh: ignoring ~\/\.config\/cellsh\.yaml: your administrator's settings apply/;

/** The user, allowed to set their hostname, and another user whose home (0755,
 * as Debian made them before 12) holds readable files with a secret. */
function users(t: TestContext, suffix: string): { user: TestUser; victim: TestUser } {
  const user = createUser(t, inst!, `hr-${suffix}`);
  const victim = createUser(t, inst!, `hr-${suffix}-v`);
  chmodSync(victim.home, 0o755);
  for (const name of ['notes', 'cellsh.yaml']) {
    writeFileSync(`${victim.home}/${name}`, `hostname: ${SECRET}\n${SECRET}: 1\n`, { mode: 0o644 });
    chownSync(`${victim.home}/${name}`, victim.uid, victim.gid);
  }
  mustApply(inst!, `users:\n  ${user.name}:\n    user_may_set: [hostname]\n`);
  return { user, victim };
}

/** `cellsh -c command` as the user, killed (by its pid, through spawn's timeout) if it hangs. */
async function login(user: TestUser, command: string): Promise<Result & { ms: number }> {
  const started = Date.now();
  const r = await runAsync(
    '/usr/bin/setpriv',
    [
      '--reuid',
      String(user.uid),
      '--regid',
      String(user.gid),
      '--init-groups',
      '--',
      '/usr/bin/env',
      inst!.launcher,
      '-c',
      command,
    ],
    { env: { PATH: '/usr/bin:/bin', TERM: 'xterm' }, timeout: 2 * LOGIN_LIMIT_MS },
  );
  return { ...r, ms: Date.now() - started };
}

/** Make the settings file from inside the container, as the user. */
async function fromInside(user: TestUser, script: string): Promise<void> {
  const r = await cellshCommand(inst!, user, `mkdir -p ~/.config && rm -f ~/.config/cellsh.yaml && ${script}`);
  assert.equal(r.status, 0, r.err);
}

/** The next login goes on, quickly, says the file is ignored and why, and shows nothing of the secret. */
async function loginGoesOn(user: TestUser, why: RegExp): Promise<void> {
  const r = await login(user, 'echo logged-in; hostname');
  assert.equal(r.status, 0, r.err);
  assert.equal(r.out, `logged-in\n${user.name}\n`, "the login went on with the admin's hostname");
  assert.ok(r.ms < LOGIN_LIMIT_MS, `the login took ${r.ms} ms`);
  assert.match(r.err, why);
  assert.match(r.err, IGNORED);
  assert.ok(!r.err.includes(SECRET) && !r.out.includes(SECRET), `the secret was shown:\n${r.err}`);
}

test("a settings file linked from inside the container to another user's file: the login shows nothing of it and goes on", {
  skip,
}, async (t) => {
  const { user, victim } = users(t, 'link');
  const hidden = await cellshCommand(inst!, user, `cat ${victim.home}/notes`);
  assert.notEqual(hidden.status, 0, 'the container does not show the other home');
  await fromInside(user, `ln -s ${victim.home}/notes ~/.config/cellsh.yaml`);
  await loginGoesOn(user, /cellsh: ~\/\.config\/cellsh\.yaml is a symbolic link/);
  // And through a linked ~/.config (the other user has a cellsh.yaml of their own).
  await fromInside(user, `rm -rf ~/.config && ln -s ${victim.home} ~/.config`);
  await loginGoesOn(user, /cellsh: ~\/\.config is a symbolic link/);
});

test('a settings file made a FIFO from inside the container: the next login does not hang', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const { user } = users(t, 'fifo');
  await fromInside(user, 'mkfifo ~/.config/cellsh.yaml');
  await loginGoesOn(user, /cellsh: ~\/\.config\/cellsh\.yaml is not a regular file \(a FIFO\)/);
});

test('a settings file linked to /dev/zero, or a sparse 10 GiB one: the next login reads none of it and goes on', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const { user } = users(t, 'zero');
  await fromInside(user, 'ln -s /dev/zero ~/.config/cellsh.yaml');
  await loginGoesOn(user, /cellsh: ~\/\.config\/cellsh\.yaml is a symbolic link/);
  await fromInside(user, 'truncate -s 10G ~/.config/cellsh.yaml');
  await loginGoesOn(user, /cellsh: ~\/\.config\/cellsh\.yaml is larger than 64 KiB/);
});
