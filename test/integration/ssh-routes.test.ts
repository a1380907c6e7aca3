// Which route an ssh session takes, through a real sshd in both deployments:
// cellsh as the passwd shell (sshd runs "cellsh -c CMD") and as sshd's
// ForceCommand (sshd runs "sh -c cellsh", the request in SSH_ORIGINAL_COMMAND).
// A session without a terminal goes from the launcher straight to the helper
// (no Node), a terminal session gets its helper from the launcher while Node
// loads (the early start). Told by the process tree while the session runs:
// the helper (its pid from its login line) is sshd's own child on the fast
// path, and Node's attached.js's child on the early start.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { logRecords, skipReason, testInstall } from '../helpers/install.js';
import { statusField } from '../helpers/processes.js';
import { must, waitFor } from '../helpers/system.js';
import { deploy, TestSshd, sshSkipReason } from '../helpers/sshd.js';
import type { TestUser } from '../helpers/users.js';

const inst = testInstall();
const skip = skipReason(inst) || sshSkipReason();

type Route = 'fast path' | 'early start' | 'Node login shell' | string;

/** The user's login lines so far (a uid may have served an earlier test's user). */
const loginsOf = (user: TestUser): Array<Record<string, unknown>> =>
  logRecords(inst!).filter((l) => l['msg'] === 'login' && l['uid'] === user.uid);

/** The route of the user's first login after the `before` logged ones, while it runs. */
async function routeOf(user: TestUser, before: number): Promise<Route> {
  const login = await waitFor(`a new login of ${user.name}`, () => loginsOf(user)[before], 20_000);
  const parentOf = (pid: number): number => Number(statusField(pid, 'PPid'));
  const commOf = (pid: number): string => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  let parent = parentOf(Number(login['pid']));
  // Under ForceCommand the user's passwd shell runs "-c cellsh"; a shell that
  // forks for it, rather than exec, is still no Node.
  while (['sh', 'dash', 'bash'].includes(commOf(parent))) parent = parentOf(parent);
  const comm = commOf(parent);
  if (comm === 'sshd') return 'fast path';
  const cmdline = readFileSync(`/proc/${parent}/cmdline`, 'utf8');
  if (/\/dist\/src\/cli\/attached\.js\0/.test(cmdline)) return 'early start';
  if (/\/dist\/src\/cli\/login\.js\0/.test(cmdline)) return 'Node login shell';
  return `a helper started by ${comm}`;
}

/** An ssh-agent of the test's, with no keys: enough for sshd to forward one (ssh -A). */
function clientAgent(t: TestContext): NodeJS.ProcessEnv {
  const dir = mkdtempSync('/tmp/cellsh-t-agent-');
  const agent = must('ssh-agent', ['-a', join(dir, 'sock')]);
  const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.out)![1]);
  t.after(() => {
    process.kill(pid);
    rmSync(dir, { recursive: true, force: true });
  });
  return { PATH: '/usr/bin:/bin', HOME: '/root', SSH_AUTH_SOCK: join(dir, 'sock') };
}

/** ssh without a terminal, its stdin held open (the remote side waits on it) until the route is read. */
async function pipedRoute(
  t: TestContext,
  sshd: TestSshd,
  user: TestUser,
  args: readonly string[],
  env: NodeJS.ProcessEnv = { PATH: '/usr/bin:/bin', HOME: '/root' },
): Promise<Route> {
  const before = loginsOf(user).length;
  const ssh = spawn('ssh', [...sshd.clientOptions(), '-p', String(sshd.port), sshd.target(user), ...args], {
    stdio: ['pipe', 'ignore', 'pipe'],
    env,
  });
  t.after(() => ssh.kill('SIGKILL'));
  let err = '';
  ssh.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  try {
    return await routeOf(user, before);
  } catch (e) {
    throw new Error(`${(e as Error).message}; ssh said: ${err}`);
  } finally {
    ssh.stdin!.end();
    await new Promise((resolve) => (ssh.exitCode !== null ? resolve(null) : ssh.on('close', resolve)));
  }
}

/** ssh -tt on a terminal, kept open until the route is read. */
async function terminalRoute(
  t: TestContext,
  sshd: TestSshd,
  user: TestUser,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; options?: string[] } = {},
): Promise<Route> {
  const before = loginsOf(user).length;
  const term = sshd.terminal(user, args, opts);
  t.after(() => term.kill());
  const route = await routeOf(user, before);
  term.kill();
  return route;
}

for (const mode of ['login-shell', 'force-command'] as const) {
  test(`(${mode}) ssh sessions without a terminal (a command, with and without an agent; the server sides of sftp, scp and rsync) run without Node`, {
    skip,
  }, async (t) => {
    const { user, sshd } = await deploy(t, inst!, mode, `rt-${mode === 'login-shell' ? 'ls' : 'fc'}`);
    const forms: Array<[string, readonly string[]]> = [
      ['ssh host cmd', ['read line']],
      ['sftp (the subsystem)', ['-s', 'sftp']],
      ['scp -O (scp -t on the remote side)', ['scp', '-t', '/tmp']],
      ['rsync (rsync --server on the remote side)', ['rsync', '--server', '-logDtpre.iLsfxCIvu', '.', '/tmp']],
      ['git fetch or clone (git-upload-pack on the remote side)', ["git-upload-pack '~/routes.git'"]],
    ];
    assert.equal((await sshd.ssh(user, ['git init -q --bare ~/routes.git'])).status, 0, 'a repository to fetch from');
    for (const [form, args] of forms) {
      assert.equal(await pipedRoute(t, sshd, user, args), 'fast path', form);
    }
    assert.equal(await pipedRoute(t, sshd, user, ['-A', 'read line'], clientAgent(t)), 'fast path', 'ssh -A host cmd');
  });

  test(`(${mode}) ssh terminal sessions (a login, ssh -tt host cmd) get their helper from the launcher while Node loads`, {
    skip,
  }, async (t) => {
    const { user, sshd } = await deploy(t, inst!, mode, `rt-t${mode === 'login-shell' ? 'ls' : 'fc'}`);
    assert.equal(await terminalRoute(t, sshd, user, []), 'early start', 'ssh host (a login)');
    assert.equal(await terminalRoute(t, sshd, user, ['read line']), 'early start', 'ssh -tt host cmd');
    assert.equal(
      await terminalRoute(t, sshd, user, [], { env: clientAgent(t), options: ['-A'] }),
      'early start',
      'ssh -A host (a login)',
    );
  });
}

test("(force-command) sftp through sshd's internal-sftp runs the sftp server inside the container, without Node", {
  skip,
}, async (t) => {
  const { user } = await deploy(t, inst!, 'force-command', 'rt-isftp');
  const sshd = await TestSshd.start(t, inst!, { subsystem: 'internal-sftp' });
  sshd.authorize(user);
  assert.equal(await pipedRoute(t, sshd, user, ['-s', 'sftp']), 'fast path');
  const sftp = loginsOf(user).at(-1)!;
  assert.match(String(sftp['command']), /^\/usr\/lib\/openssh\/sftp-server$/, 'internal-sftp became the sftp server');
});
