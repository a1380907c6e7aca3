// The launcher's early start: a terminal session of a user with nothing for
// Node to decide first has its helper started by the launcher itself, so the
// container's shell starts while Node loads; Node (dist/src/cli/attached.js)
// only relays. Which route ran is told by the process tree while the session
// runs: Node's script, and the helper's pid (from its login log line) being
// the one the launcher handed to Node, as Node's child.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, readFileSync, readdirSync } from 'node:fs';
import { logRecords, mustApply, skipReason, testInstall } from '../helpers/install.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { waitFor } from '../helpers/system.js';
import { cellshCommand, interactiveLogin, promptOf } from '../helpers/session.js';
import { Terminal } from '../helpers/terminal.js';

const inst = testInstall();
const skip = skipReason(inst);

/** Runs argv with SIGCHLD ignored, as a careless caller may leave it (it survives exec). */
const IGNORING_SIGCHLD = [
  '/usr/bin/python3',
  '-c',
  'import os, signal, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN); os.execv(sys.argv[1], sys.argv[1:])',
];

/** The launcher as the user on a new terminal, with args and extra environment. */
function onTerminal(
  t: TestContext,
  user: TestUser,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  opts: { ignoreSigchld?: boolean } = {},
): Terminal {
  const vars = Object.entries({ TERM: 'xterm-256color', ...env }).map(([k, v]) => `${k}=${v}`);
  const argv = [
    '/usr/bin/setpriv',
    '--reuid',
    String(user.uid),
    '--regid',
    String(user.gid),
    '--init-groups',
    '--',
    '/usr/bin/env',
    '-i',
    'PATH=/usr/bin:/bin',
    ...vars,
    inst!.launcher,
    ...args,
  ];
  const [file, ...rest] = opts.ignoreSigchld ? [...IGNORING_SIGCHLD, ...argv] : argv;
  const term = Terminal.spawn(file!, rest);
  t.after(() => term.kill());
  return term;
}

/** The user's Node process and its arguments after the script. */
function nodeOf(user: TestUser): { pid: number; script: string; args: string[] } | undefined {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const at = cmd.findIndex((a) => /\/dist\/src\/cli\/(attached|login)\.js$/.test(a));
      if (at > 0 && new RegExp(`^Uid:\\s+${user.uid}\\s`, 'm').test(status)) {
        return { pid: Number(pid), script: cmd[at]!.split('/').at(-1)!, args: cmd.slice(at + 1) };
      }
    } catch {
      /* gone */
    }
  }
  return undefined;
}

const parentOf = (pid: number): number =>
  Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
/** The process group (field 5 of /proc/PID/stat, after the parenthesised name). */
const groupOf = (pid: number): number =>
  Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);

test("early start: a plain user's terminal session gets its helper from the launcher; Node relays it, exit status and all", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'es-plain');
  mustApply(inst!);
  const term = onTerminal(t, user, ['-c', 'tty; read -r line; exit 3']);
  await term.expect(/\/dev\/pts\/\d+\r\n/);
  const login = logRecords(inst!)
    .filter((l) => l['msg'] === 'login' && l['uid'] === user.uid)
    .at(-1)!;
  assert.deepEqual([login['mode'], login['tty']], ['command', true]);
  const node = await waitFor("the session's Node process", () => nodeOf(user));
  assert.deepEqual(
    [node.script, node.args],
    ['attached.js', ['--', String(login['pid'])]],
    'the launcher started the helper and handed it to Node',
  );
  assert.equal(parentOf(login['pid'] as number), node.pid, "the helper is Node's child");
  assert.notEqual(
    groupOf(login['pid'] as number),
    groupOf(node.pid),
    "the helper is out of the terminal's process group (keys typed early can't signal it as root)",
  );
  await term.type('\r');
  assert.equal((await term.exited).exitCode, 3);
});

test('early start: what the helper tells the person (a settings change waiting for a restart) reaches their terminal', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'es-notice');
  mustApply(inst!, `users:\n  ${user.name}:\n    hostname: old-{user}\n`);
  const busy = await cellshCommand(inst!, user, 'nohup sleep 120 >/dev/null 2>&1 &');
  assert.equal(busy.status, 0, busy.err);
  mustApply(inst!, `users:\n  ${user.name}:\n    hostname: new-{user}\n`);
  const term = await interactiveLogin(user);
  t.after(() => term.kill());
  // Whole lines on the raw terminal: CR LF, not a bare LF that leaves the prompt mid-line.
  assert.match(
    term.output,
    /cellsh: your container's settings changed \(hostname\); they apply when it restarts[^\n]*\.\r\n/,
  );
  assert.equal(nodeOf(user)?.script, 'attached.js');
  await term.type('exit\r');
  await term.exited;
});

test("early start: a terminal session with an agent variable, and one through sshd's ForceCommand, start early", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'es-node');
  mustApply(inst!);
  // (An agent variable that names no socket of sshd's is left out, as on the
  // Node path; ssh-routes and ssh-agent test a real forwarded agent.)
  for (const [what, args, env, script] of [
    ['an agent', ['-c', 'echo agent; read -r line'], { SSH_AUTH_SOCK: '/tmp/ssh-none/agent.1' }, 'attached.js'],
    ['ForceCommand', ['-c', inst!.launcher], { SSH_ORIGINAL_COMMAND: 'echo forced; read -r line' }, 'attached.js'],
  ] as const) {
    const term = onTerminal(t, user, args, env);
    await term.expect(/(agent|forced)\r\n/);
    assert.equal((await waitFor("the session's Node process", () => nodeOf(user))).script, script, what);
    await term.type('\r');
    assert.equal((await term.exited).exitCode, 0, what);
  }
  const login = onTerminal(t, user, []);
  await login.expect(promptOf(user));
  assert.equal(nodeOf(user)?.script, 'attached.js', 'a plain login starts early');
  await login.type('exit\r');
  await login.exited;
});

test('early start: a helper that refuses at once is still heard, message and exit status, even with SIGCHLD ignored by the caller', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'es-refused');
  mustApply(inst!);
  chownSync(user.home, 0, 0); // the helper refuses a home that is not the user's, before any container exists
  for (const ignoreSigchld of [false, true]) {
    const term = onTerminal(t, user, [], {}, { ignoreSigchld });
    const { exitCode } = await term.exited;
    assert.match(term.output, /cellsh: your home "[^"]+" does not belong to you/, `SIGCHLD ignored: ${ignoreSigchld}`);
    assert.equal(exitCode, 77, `SIGCHLD ignored: ${ignoreSigchld}: ${term.output}`);
  }
});
