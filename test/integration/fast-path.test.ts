// The launcher's fast path: a plain command with no terminal and no user
// settings goes from the launcher straight to the helper (no Node), a forwarded
// agent relayed by a small process of the launcher's, and everything else still
// takes the Node login shell. Which path ran is told by
// the helper's pid in its login log line: on the fast path the helper is the
// very process the caller started (exec all the way down).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { logRecords, mustApply, skipReason, testInstall } from '../helpers/install.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { chownSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { statusField } from '../helpers/processes.js';
import { must, runAsync, waitFor } from '../helpers/system.js';

const inst = testInstall();
const skip = skipReason(inst);

/** Run the launcher as the user with args; returns its output after the pid line,
 * its status, and whether the helper ran in the caller's own process. */
async function launch(
  user: TestUser,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  wrap: readonly string[] = [],
): Promise<{ out: string; err: string; status: number; direct: boolean }> {
  const script = `echo $$; exec ${wrap.join(' ')} /usr/bin/setpriv --reuid ${user.uid} --regid ${user.gid} --init-groups -- /usr/bin/env "$@"`;
  const r = await runAsync('bash', ['-c', script, 'launch', inst!.launcher, ...args], {
    env: { PATH: '/usr/bin:/bin', ...env },
  });
  const [pidLine, ...rest] = r.out.split('\n');
  const logins = logRecords(inst!).filter((l) => l['msg'] === 'login' && l['uid'] === user.uid);
  assert.ok(logins.length > 0, `a login line for ${user.name}: ${r.err}`);
  return { out: rest.join('\n'), err: r.err, status: r.status, direct: logins.at(-1)!['pid'] === Number(pidLine) };
}

test('fast path: a plain command runs without Node, with the same output and exit status', { skip }, async (t) => {
  const user = createUser(t, inst!, 'fp-plain');
  mustApply(inst!);
  const r = await launch(user, ['-c', 'echo "hi $(id -un)"; exit 7']);
  assert.deepEqual([r.out, r.status, r.direct], [`hi ${user.name}\n`, 7, true], r.err);
  const login = await launch(user, ['-l', '-c', 'echo as-login-shell']);
  assert.deepEqual([login.out, login.direct], ['as-login-shell\n', true]);
});

test('fast path: sshd\'s ForceCommand ("shell -c cellsh", or plain "cellsh") runs the client\'s command without Node', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'fp-forced');
  mustApply(inst!);
  const forced = await launch(user, ['-c', inst!.launcher], { SSH_ORIGINAL_COMMAND: 'echo forced; exit 5' });
  assert.deepEqual([forced.out, forced.status, forced.direct], ['forced\n', 5, true], forced.err);
  const plain = await launch(user, [], { SSH_ORIGINAL_COMMAND: 'echo plain' });
  assert.deepEqual([plain.out, plain.direct], ['plain\n', true], plain.err);
  // A bare "cellsh" is not this program's path: Node reads it (as a command).
  const named = await launch(user, ['-c', 'cellsh'], { SSH_ORIGINAL_COMMAND: 'echo named' });
  assert.equal(named.direct, false, named.err);
  // No request: a login, which without a terminal is Node's.
  const login = await launch(user, ['-c', inst!.launcher], { SSH_ORIGINAL_COMMAND: '' });
  assert.equal(login.direct, false, login.err);
});

/** An ssh-agent of the user's listening where sshd makes agent sockets
 * (/tmp/ssh-XXXXXXXXXX/agent.N, a 0700 folder of the user's); stopped and removed after t. */
function userAgent(t: TestContext, user: TestUser, tenChars: string): string {
  const dir = `/tmp/ssh-${tenChars}`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  chownSync(dir, user.uid, user.gid);
  const sock = `${dir}/agent.1`;
  const agent = must('/usr/bin/setpriv', [
    '--reuid',
    String(user.uid),
    '--regid',
    String(user.gid),
    '--init-groups',
    '--',
    'ssh-agent',
    '-a',
    sock,
  ]);
  const agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.out)![1]);
  t.after(() => {
    try {
      process.kill(agentPid);
    } catch {
      // ended with the user's other processes
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return sock;
}

test("fast path: sshd's agent socket is relayed by the launcher itself, whose relay ends with the program", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'fp-agent');
  mustApply(inst!);
  const sock = userAgent(t, user, 'cellshTfp1');
  const r = await launch(user, ['-c', 'echo "$SSH_AUTH_SOCK"; ssh-add -l; echo "status $?"'], { SSH_AUTH_SOCK: sock });
  assert.deepEqual(
    [r.out, r.direct],
    ['/run/cellsh/agents/current\nThe agent has no identities.\nstatus 1\n', true],
    r.err,
  );
  // The relay (a process of the launcher's, named cellsh, as the user) is gone once the program is.
  await waitFor('the relay to end', () => relaysOf(user.uid).length === 0 || undefined, 5_000);
  // A variable naming no socket of sshd's is left out (no agent inside), still without Node.
  const none = await launch(user, ['-c', 'echo "[$SSH_AUTH_SOCK]"'], { SSH_AUTH_SOCK: '/tmp/ssh-none/agent.1' });
  assert.deepEqual([none.out, none.direct], ['[]\n', true], none.err);
});

/** The launcher's agent relays of uid: processes named cellsh of that user, once the
 * session's login is logged (the launcher itself has become the helper by then). */
function relaysOf(uid: number): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((p) => statusField(p, 'Name') === 'cellsh' && statusField(p, 'Uid')?.split('\t')[0] === String(uid));
}

/** The user's login lines so far. */
const loginsOf = (user: TestUser): number =>
  logRecords(inst!).filter((l) => l['msg'] === 'login' && l['uid'] === user.uid).length;

/** CPU time (user + system, clock ticks) a process has used. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

test("fast path: the agent relay can't be spun by connections it has no fds for, nor opened up by the user's other processes", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'fp-relay');
  mustApply(inst!);
  const sock = userAgent(t, user, 'cellshTfp2');
  // A file limit of 65 (the helper accepts 64 and up) leaves the relay fds for a
  // few connections only; the program then holds 40 open for 4 s.
  const hold =
    'import os, socket, time\nss = []\nfor i in range(40):\n    s = socket.socket(socket.AF_UNIX)\n    s.connect(os.environ["SSH_AUTH_SOCK"])\n    ss.append(s)\nprint("held", flush=True)\ntime.sleep(4)\n';
  const loggedBefore = loginsOf(user);
  const session = launch(user, ['-c', `python3 -c '${hold}'`], { SSH_AUTH_SOCK: sock }, [
    '/usr/bin/prlimit',
    '--nofile=65:65',
    '--',
  ]);
  await waitFor("the session's login", () => loginsOf(user) > loggedBefore || undefined, 5_000);
  const relay = await waitFor('the relay', () => relaysOf(user.uid)[0], 5_000);
  await new Promise((r) => setTimeout(r, 1500)); // the connections are made by now
  const before = cpuTicks(relay);
  await new Promise((r) => setTimeout(r, 1500));
  const used = cpuTicks(relay) - before;
  // The user's own host process can't open the relay's fds (it is not dumpable).
  const peek = await runAsync(
    '/usr/bin/setpriv',
    ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', '/bin/ls', `/proc/${relay}/fd`],
    { env: { PATH: '/usr/bin:/bin' } },
  );
  const r = await session;
  assert.equal(r.out, 'held\n', r.err);
  assert.ok(used < 30, `the relay used ${used} ticks of CPU in 1.5 s with connections waiting that it has no fds for`);
  assert.notEqual(peek.status, 0, `the user listed the relay's fds: ${peek.out}`);
});

test("fast path: a usage error or settings of the user's own take the Node path", { skip }, async (t) => {
  const user = createUser(t, inst!, 'fp-node');
  mustApply(inst!);
  const usage = await launch(user, ['-x']);
  assert.equal(usage.status, 64, "a usage error is Node's to explain");
  mustApply(inst!, `users:\n  ${user.name}:\n    user_may_set: [hostname]\n`);
  const settings = await launch(user, ['-c', 'echo settings']);
  assert.deepEqual([settings.out, settings.direct], ['settings\n', false], settings.err);
});

test("fast path: a user the policy does not list gets Node's message naming them, not the helper's uid", {
  skip,
}, async (t) => {
  const other = createUser(t, inst!, 'fp-absent', { enrolled: false });
  mustApply(inst!);
  const r = await runAsync(
    '/usr/bin/setpriv',
    [
      '--reuid',
      String(other.uid),
      '--regid',
      String(other.gid),
      '--init-groups',
      '--',
      '/usr/bin/env',
      inst!.launcher,
      '-c',
      'true',
    ],
    { env: { PATH: '/usr/bin:/bin' } },
  );
  assert.equal(r.status, 77, r.err);
  assert.match(r.err, new RegExp(`^cellsh: ${other.name} is not enrolled in cellsh`));
});
