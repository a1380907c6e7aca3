// Policy changes reaching running containers, and users' own settings, on a
// real installation with real users: limits change live in the cgroup; what
// shapes the container (hostname, network, ...) waits for the restart the
// policy's `restart:` times, and interactive logins are told; a user's
// ~/.config/cellsh.yaml applies only what the admin allows, never above it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { logRecords, mustApply, skipReason, testInstall } from '../helpers/install.js';
import { asUser, containerRecord, createUser, type TestUser } from '../helpers/users.js';
import { processGone, run, waitFor } from '../helpers/system.js';
import { cellshCommand } from '../helpers/session.js';
import { containerLimit } from '../helpers/cgroups.js';
import { cgroupHost } from '../../src/sys/cgroups.js';

const inst = testInstall();
const skip = skipReason(inst);

const pidsMax = (uid: number): string => containerLimit(inst!, uid, 'pids');

/** The user's row of `cellsh-admin ps --json`. */
function psRow(user: TestUser): Record<string, unknown> {
  const r = run(inst!.admin, ['ps', '--json']);
  assert.equal(r.status, 0, r.err);
  const rows = (JSON.parse(r.out) as { containers: Array<Record<string, unknown>> }).containers;
  return rows.find((x) => x['uid'] === user.uid) ?? {};
}

/** Hold a flock on file (mode -s or -x) until release(): flock(1) runs cat, which
 * keeps the locked fd and exits when its stdin closes. */
function holdLock(t: TestContext, file: string, mode: '-s' | '-x'): { release(): void } {
  const child = spawn('flock', [mode, file, 'cat'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const release = (): void => {
    child.stdin.end();
  };
  t.after(release);
  return { release };
}

/** A login as the launcher with no -c (what `su - user` runs), stdin as the script. */
function pipedLogin(user: TestUser, script: string): ReturnType<typeof asUser> {
  return asUser(user, inst!.launcher, [], { input: script });
}

/** Keep the container busy with a sleep; returns its pid inside the container. */
async function busy(user: TestUser): Promise<string> {
  const r = await cellshCommand(inst!, user, 'nohup sleep 120 >/dev/null 2>&1 & echo $!');
  assert.equal(r.status, 0, r.err);
  return r.out.trim();
}

function policyFor(user: TestUser, settings: string, defaults = ''): string {
  return `${defaults ? `defaults:\n${defaults}` : ''}users:\n  ${user.name}:\n${settings}`;
}

test('policy: stricter and looser limits reach a running container live, in its cgroup, without a restart', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'pc-live');
  mustApply(inst!, policyFor(user, '    limits: {pids: 100}\n'));
  await busy(user);
  const first = containerRecord(inst!, user)!;
  assert.equal(pidsMax(user.uid), '100');
  assert.equal(psRow(user)['policy'], 'current');
  mustApply(inst!, policyFor(user, '    limits: {pids: 50}\n'));
  assert.equal(psRow(user)['policy'], 'changed', 'ps: the next login applies it');
  const joined = await cellshCommand(inst!, user, 'echo joined');
  assert.equal(joined.out, 'joined\n', joined.err);
  assert.equal(pidsMax(user.uid), '50', 'the stricter limit is in force');
  assert.equal(containerRecord(inst!, user)!['id'], first['id'], 'same container');
  mustApply(inst!, policyFor(user, '    limits: {pids: unlimited}\n'));
  assert.equal((await cellshCommand(inst!, user, 'true')).status, 0);
  assert.equal(pidsMax(user.uid), 'max', 'a limit the policy dropped is lifted');
  assert.ok(logRecords(inst!).some((r) => r['msg'] === 'limits-update' && r['uid'] === user.uid));
  assert.equal(containerRecord(inst!, user)!['pending'], '-');
  const row = psRow(user);
  assert.equal(row['policy'], 'current');
  assert.equal(row['sessions'], 0);
  const session = cellshCommand(inst!, user, 'sleep 3');
  await waitFor('ps to count the running session', () => psRow(user)['sessions'] === 1);
  assert.equal((await session).status, 0);
});

test('policy: a limit change that failed partway is written again at the next join, even once the policy goes back', {
  skip,
}, async (t) => {
  if (cgroupHost(inst!.cgroupName).version !== 'v1')
    return t.skip(
      'cgroup v2 takes any memory.max (it reclaims or kills), so no live update can be made to fail partway',
    );
  if (readFileSync('/proc/swaps', 'utf8').trim().split('\n').length > 1)
    return t.skip("this host swaps: the kernel can page the container's memory out and take the lower limit");
  const user = createUser(t, inst!, 'pc-partial');
  const before = policyFor(user, '    restart: manual\n    limits: {memory: 512M, pids: 100}\n');
  mustApply(inst!, before);
  // Memory the kernel can't reclaim without swap: a file in the container's /tmp, a tmpfs.
  const fill = await cellshCommand(inst!, user, 'head -c 96M /dev/zero > /tmp/fill && echo filled');
  assert.equal(fill.out, 'filled\n', fill.err);
  // v1 refuses a memory limit below what is in use; the looser pids limit after it is written.
  mustApply(inst!, policyFor(user, '    restart: manual\n    limits: {memory: 64M, pids: 200}\n'));
  const refused = await cellshCommand(inst!, user, 'true');
  assert.equal(refused.status, 77, refused.err);
  assert.match(refused.err, /can't take a policy change live \(memory/);
  assert.equal(pidsMax(user.uid), '200', 'the update got as far as the pids limit');
  // The policy goes back to what the container was made with: its limits are written again.
  mustApply(inst!, before);
  const joined = await cellshCommand(inst!, user, 'echo joined');
  assert.equal(joined.out, 'joined\n', joined.err);
  assert.equal(pidsMax(user.uid), '100', "the policy's pids limit holds again");
});

test('policy: a hostname change waits while the container is busy (restart: idle), is announced, and applies once it is idle', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'pc-idle');
  mustApply(inst!, policyFor(user, '    hostname: old-{user}\n'));
  const sleeper = await busy(user);
  const first = containerRecord(inst!, user)!;
  mustApply(inst!, policyFor(user, '    hostname: new-{user}\n'));
  const pending = await pipedLogin(user, 'hostname\n');
  assert.equal(pending.out, `old-${user.name}\n`, 'the session joins the container as it is');
  assert.match(
    pending.err,
    /your container's settings changed \(hostname\); they apply when it restarts, at your first login once nothing of yours runs in it/,
  );
  assert.equal((await cellshCommand(inst!, user, 'hostname')).err, '', 'commands stay quiet');
  assert.equal(containerRecord(inst!, user)!['pending'], 'hostname');
  assert.deepEqual([psRow(user)['policy'], psRow(user)['pending']], ['pending', 'hostname']);
  assert.equal((await cellshCommand(inst!, user, `kill ${sleeper}`)).status, 0);
  const fresh = await pipedLogin(user, 'hostname\n');
  assert.equal(fresh.out, `new-${user.name}\n`);
  assert.match(fresh.err, /your container was restarted to apply changed settings \(hostname\)/);
  assert.notEqual(containerRecord(inst!, user)!['id'], first['id']);
  assert.ok(
    logRecords(inst!).some(
      (r) => r['msg'] === 'container-restart' && r['uid'] === user.uid && r['reason'] === 'hostname',
    ),
  );
});

test('policy: restart: login restarts at the next login, ending what ran; restart: manual only tells', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'pc-modes');
  mustApply(inst!, policyFor(user, '    restart: login\n    network: none\n'));
  await busy(user);
  const first = containerRecord(inst!, user)!;
  mustApply(inst!, policyFor(user, '    restart: login\n    network: host\n'));
  const r = await cellshCommand(inst!, user, 'pgrep -c sleep || true');
  assert.equal(r.out, '0\n', 'the sleep of the old container is gone');
  await waitFor('the old init to be gone', () => processGone(first['init_pid']!));
  assert.notEqual(containerRecord(inst!, user)!['id'], first['id']);
  assert.equal(containerRecord(inst!, user)!['network'], '1');

  mustApply(inst!, policyFor(user, '    restart: manual\n    network: host\n    hostname: one\n'));
  assert.equal(run(inst!.admin, ['restart', user.name]).status, 0);
  assert.equal((await cellshCommand(inst!, user, 'hostname')).out, 'one\n');
  const second = containerRecord(inst!, user)!;
  mustApply(inst!, policyFor(user, '    restart: manual\n    network: host\n    hostname: two\n'));
  const told = await pipedLogin(user, 'hostname\n');
  assert.equal(told.out, 'one\n');
  assert.match(
    told.err,
    /settings changed \(hostname\); they apply when it restarts: run "kill 1" .* \("cellsh-admin restart /,
  );
  assert.equal(containerRecord(inst!, user)!['id'], second['id'], 'manual: even an idle container is kept');
  const restarted = run(inst!.admin, ['restart', user.name]);
  assert.equal(restarted.status, 0, restarted.err);
  assert.equal((await cellshCommand(inst!, user, 'hostname')).out, 'two\n');
});

test('policy: a change that takes access away (host network gone) restarts at the next login even with restart: manual', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'pc-access');
  mustApply(inst!, policyFor(user, '    restart: manual\n    network: host\n'));
  await busy(user);
  const first = containerRecord(inst!, user)!;
  mustApply(inst!, policyFor(user, '    restart: manual\n    network: none\n'));
  const r = await pipedLogin(user, 'pgrep -c sleep || true\n');
  assert.equal(r.out, '0\n', 'the old container, with the host network, is gone');
  assert.match(r.err, /your container was restarted to apply changed settings \(network\)/);
  assert.notEqual(containerRecord(inst!, user)!['id'], first['id']);
  assert.equal(containerRecord(inst!, user)!['network'], '0');
});

test('policy: an idle restart waits for a login that is on its way into the container', { skip }, async (t) => {
  const user = createUser(t, inst!, 'pc-joining');
  mustApply(inst!, policyFor(user, '    hostname: old\n'));
  assert.equal((await cellshCommand(inst!, user, 'true')).status, 0);
  const first = containerRecord(inst!, user)!;
  mustApply(inst!, policyFor(user, '    hostname: new\n'));
  // Stand in for a login between taking its entry and moving in: the shared join lock.
  const holder = holdLock(t, `${inst!.stateDir}/${user.uid}.join`, '-s');
  await waitFor(
    'the join lock to be held',
    () => run('flock', ['-n', '-x', `${inst!.stateDir}/${user.uid}.join`, 'true']).status !== 0,
  );
  assert.equal(
    (await cellshCommand(inst!, user, 'hostname')).out,
    'old\n',
    'joined, not restarted under the other login',
  );
  assert.equal(containerRecord(inst!, user)!['id'], first['id']);
  holder.release();
  await waitFor(
    'the join lock to be free',
    () => run('flock', ['-n', '-x', `${inst!.stateDir}/${user.uid}.join`, 'true']).status === 0,
  );
  assert.equal((await cellshCommand(inst!, user, 'hostname')).out, 'new\n');
});

test('policy: a login that waited for the lock applies the policy applied meanwhile, not the one it started with', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'pc-waited');
  mustApply(inst!, policyFor(user, '    limits: {pids: 100}\n'));
  await busy(user);
  const holder = holdLock(t, `${inst!.stateDir}/${user.uid}.lock`, '-x');
  await waitFor(
    'the state lock to be held',
    () => run('flock', ['-n', '-x', `${inst!.stateDir}/${user.uid}.lock`, 'true']).status !== 0,
  );
  const waiting = cellshCommand(inst!, user, 'echo in');
  await new Promise((res) => setTimeout(res, 1500)); // the login has read the policy and waits for the lock
  mustApply(inst!, policyFor(user, '    limits: {pids: 20}\n'));
  holder.release();
  assert.equal((await waiting).out, 'in\n');
  assert.equal(pidsMax(user.uid), '20');
});

test("policy: env reaches every session, and wins over the login's own locale variables", { skip }, async (t) => {
  const user = createUser(t, inst!, 'pc-env');
  mustApply(
    inst!,
    policyFor(user, '    env: {LC_ALL: C.UTF-8, PATH: "/opt/none:/usr/bin:/bin", http_proxy: "http://proxy:3128"}\n'),
  );
  const r = await cellshCommand(inst!, user, 'echo "$LC_ALL $LC_TIME $PATH $http_proxy"', {
    env: {
      PATH: '/usr/bin:/bin',
      LC_ALL: 'en_US.UTF-8',
      LC_TIME: 'de_DE.UTF-8',
      SSH_CONNECTION: '10.0.0.1 22 10.0.0.2 22',
    },
  });
  assert.equal(r.out, 'C.UTF-8 de_DE.UTF-8 /opt/none:/usr/bin:/bin http://proxy:3128\n', r.err);
});

/** Write the user's ~/.config/cellsh.yaml as them. */
function userFile(user: TestUser, text: string): void {
  const dir = join(user.home, '.config');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cellsh.yaml'), text);
  chownSync(dir, user.uid, user.gid);
  chownSync(join(dir, 'cellsh.yaml'), user.uid, user.gid);
}

test("user settings: what the admin allows applies (hostname, env, a lower pids limit); the rest is refused with the admin's values", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'pc-own');
  mustApply(
    inst!,
    policyFor(
      user,
      '    limits: {pids: 100}\n    env: {http_proxy: "http://proxy:3128"}\n    user_may_set: [hostname, env, limits.pids]\n',
    ),
  );
  userFile(user, 'hostname: mine-{uid}\nenv: {EDITOR: vim}\nlimits:\n  pids: 40\n');
  const mine = await cellshCommand(inst!, user, 'hostname; echo "$EDITOR $http_proxy"');
  assert.equal(mine.out, `mine-${user.uid}\nvim http://proxy:3128\n`, mine.err);
  assert.equal(mine.err, '');
  assert.equal(pidsMax(user.uid), '40');

  userFile(user, 'limits:\n  pids: 500\nshell: /bin/sh\n');
  const refused = await cellshCommand(inst!, user, 'echo "[$EDITOR]"');
  assert.equal(refused.status, 0, 'a bad file never fails the login');
  assert.equal(refused.out, '[]\n');
  assert.match(
    refused.err,
    /cellsh: ~\/\.config\/cellsh\.yaml:2:9: limits\.pids: at most 100, your administrator's limit/,
  );
  assert.match(
    refused.err,
    /~\/\.config\/cellsh\.yaml:3:8: shell: your administrator does not let you set this \(you may set: hostname, env, limits\.pids\)/,
  );
  assert.match(refused.err, /ignoring ~\/\.config\/cellsh\.yaml: your administrator's settings apply/);
  assert.equal(pidsMax(user.uid), '100', "back to the admin's limit, live");

  userFile(user, 'hostname: [not, yaml\n');
  const broken = await cellshCommand(inst!, user, 'echo ok');
  assert.equal(broken.out, 'ok\n');
  assert.match(broken.err, /cellsh: ~\/\.config\/cellsh\.yaml:\d+:\d+: invalid YAML/);
});

test("user settings: the helper itself refuses a --set the policy does not allow, or above the admin's value", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'pc-set');
  mustApply(inst!, policyFor(user, '    limits: {pids: 100}\n    user_may_set: [limits.pids]\n'));
  const above = await asUser(user, inst!.helper, ['run', '--set', 'pids=500', 'true']);
  assert.equal(above.status, 64);
  assert.match(above.err, /the value given for pids is not one you may set/);
  assert.doesNotMatch(above.err, /500/, "the caller's value is not echoed");
  const other = await asUser(user, inst!.helper, ['run', '--set', 'network=host', 'true']);
  assert.equal(other.status, 64);
  assert.match(other.err, /the policy does not let you set "network"/);
  const ok = await asUser(user, inst!.helper, ['run', '--set', 'pids=30', 'true']);
  assert.equal(ok.status, 0, ok.err);
  assert.equal(pidsMax(user.uid), '30');
});
