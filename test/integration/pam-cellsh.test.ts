// pam_cellsh decides whether a user is cellsh's by group membership, as sshd's
// Match Group and the pam_succeed_if line before it do. Where /etc/group has a
// line longer than a fixed look-up buffer, or one no buffer it allows can hold,
// the module must still join the container's network, or refuse the session:
// never let it go on in the host's network, where sshd would forward for it.
// The session is opened through libpam itself (test/helpers/pam-open-session.py),
// in a private mount namespace whose /etc/group has the long line.
//
// The module starts the helper in a child that shares sshd's memory until its
// exec: sshd's process must come out of it as it went in, and must not wait on
// it for good when the user stops it (test/helpers/stop-child.py).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { packageRoot } from '../helpers/fixtures.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { run } from '../helpers/system.js';

const inst = testInstall();
const skip =
  skipReason(inst) ||
  (run('sh', ['-c', 'command -v unshare && test -e /usr/lib/x86_64-linux-gnu/libpam.so.0']).status === 0
    ? false
    : 'needs unshare and libpam (util-linux, libpam0g)');

/** A PAM service of the test's own: pam_cellsh required, then pam_permit, so a module
 * that only ignores the user lets the session open. Removed after t. */
function service(t: TestContext, name: string): string {
  const svc = `cellsh-t-pam-${name}-${process.pid}`;
  writeFileSync(
    join('/etc/pam.d', svc),
    `session required ${inst!.libDir}/pam_cellsh.so group=${inst!.group}\nsession optional pam_permit.so\n`,
  );
  t.after(() => rmSync(join('/etc/pam.d', svc), { force: true }));
  return svc;
}

/** What pam-open-session.py says of the process it opened the session in. */
interface ProcessState {
  dumpable: number;
  blocked: number[];
  usr1: boolean;
}

interface Opened {
  code: number;
  netns: string;
  before: ProcessState;
  after: ProcessState;
}

/** Open a session for user with /etc/group given a bogus group of `length` bytes as its
 * first line: pam_open_session's return, the network namespace the process ended in, and
 * the process's own state before and after. */
function openSession(t: TestContext, svc: string, user: TestUser, length: number): Opened {
  const fake = `/var/lib/cellsh-t-group-${process.pid}-${length}`;
  const members = Array.from({ length: Math.ceil(length / 10) }, (_, i) => `m${String(i).padStart(8, '0')}`)
    .join(',')
    .slice(0, length);
  writeFileSync(fake, `cellsh-t-huge:x:59999:${members.replace(/,[^,]*$/, '')}\n${readFileSync('/etc/group', 'utf8')}`);
  t.after(() => rmSync(fake, { force: true }));
  const script = join(packageRoot(), 'test/helpers/pam-open-session.py');
  const r = run('unshare', [
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    `mount --bind ${fake} /etc/group && exec python3 ${script} ${svc} ${user.name}`,
  ]);
  assert.equal(r.status, 0, r.err);
  return JSON.parse(r.out) as Opened;
}

test("a member's session joins the container's network even behind a group line longer than a small look-up buffer", {
  skip,
}, (t) => {
  const user = createUser(t, inst!, 'pam1');
  mustApply(inst!);
  const svc = service(t, 'long');
  const host = readlinkSync('/proc/self/ns/net');
  const r = openSession(t, svc, user, 40_000);
  assert.equal(r.code, 0, 'the session opened');
  assert.notEqual(r.netns, host, "the session is in the container's network, not the host's");
});

test('when group membership cannot be told, the session is refused rather than left in the host network', {
  skip,
}, (t) => {
  const user = createUser(t, inst!, 'pam2');
  mustApply(inst!);
  const svc = service(t, 'huge');
  // Longer than any buffer the module grows to (4 MiB): the look-up fails.
  const r = openSession(t, svc, user, 5 << 20);
  assert.notEqual(r.code, 0, `pam_open_session must fail, got ${r.code} in ${r.netns}`);
});

test("opening a member's session leaves the process as it was: dumpable, its blocked signals and its handlers", {
  skip,
}, (t) => {
  const user = createUser(t, inst!, 'pam3');
  mustApply(inst!);
  const svc = service(t, 'state');
  const r = openSession(t, svc, user, 100);
  assert.equal(r.code, 0, 'the session opened');
  assert.notEqual(r.netns, readlinkSync('/proc/self/ns/net'), "the session is in the container's network");
  assert.equal(r.before.dumpable, 1, 'the control: the process was dumpable before');
  assert.deepEqual(r.after, r.before);
});

/** The next line a child writes, or undefined once it ends first. */
function lines(child: ChildProcess): () => Promise<string | undefined> {
  const queue: string[] = [];
  const waiting: Array<(l: string | undefined) => void> = [];
  let ended = false;
  const rl = createInterface({ input: child.stdout! });
  rl.on('line', (l) => (waiting.length ? waiting.shift()!(l) : queue.push(l)));
  rl.on('close', () => {
    ended = true;
    for (const w of waiting.splice(0)) w(undefined);
  });
  return () =>
    queue.length
      ? Promise.resolve(queue.shift())
      : ended
        ? Promise.resolve(undefined)
        : new Promise((r) => waiting.push(r));
}

/** Let a stopped process go on, if it is still there. */
function resume(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // gone already
  }
}

/** The child's exit, or undefined if it is still running after ms. */
function exited(child: ChildProcess, ms: number): Promise<number | null | undefined> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

test('a user who stops the child before it runs the helper holds sshd for seconds, not for good: the session is refused', {
  skip,
  timeout: 300_000,
}, async (t) => {
  const user = createUser(t, inst!, 'pam4');
  mustApply(inst!);
  const svc = service(t, 'stop');
  const opener = join(packageRoot(), 'test/helpers/pam-open-session.py');
  const stopper = join(packageRoot(), 'test/helpers/stop-child.py');
  // The child is the user's only from its uid change to its exec, microseconds: try until a stop lands there.
  for (let attempt = 1; attempt <= 15; attempt++) {
    const open = spawn('python3', [opener, svc, user.name, '--wait'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stop = spawn(
      'setpriv',
      [
        '--reuid',
        user.name,
        '--regid',
        user.name,
        '--init-groups',
        '/usr/bin/python3',
        stopper,
        String(open.pid),
        '10',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.after(() => {
      for (const p of [open, stop]) if (p.exitCode === null && p.pid) process.kill(p.pid, 'SIGKILL');
    });
    const said = lines(stop);
    const answer = lines(open);
    let stopErr = '';
    stop.stderr!.on('data', (d: Buffer) => (stopErr += d.toString()));
    assert.equal(await said(), 'ready', `the stopper watches ${stopErr}`);
    open.stdin!.write('go\n');
    const line = (await said()) ?? 'none';
    t.diagnostic(`try ${attempt}: ${line}`);
    const [, pid, comm] = line.split(' ');
    if (comm !== 'python3') {
      // Too late (the helper itself, which the module's deadline covers) or never: let it go, try again.
      if (pid) resume(Number(pid));
      assert.notEqual(await exited(open, 120_000), undefined, 'the session ends once the helper goes on');
      continue;
    }
    const started = Date.now();
    const code = await exited(open, 30_000);
    if (code === undefined) resume(Number(pid)); // let it go before failing
    assert.notEqual(code, undefined, "sshd's process stayed held in the clone while the child was stopped");
    const took = Date.now() - started;
    assert.ok(took < 20_000, `the session ended ${took} ms after the stop`);
    const r = JSON.parse((await answer()) ?? '{}') as Partial<Opened>;
    assert.notEqual(r.code, 0, 'the session is refused');
    assert.equal(r.netns, readlinkSync('/proc/self/ns/net'), "and left where it was, in the host's network");
    return;
  }
  t.skip("no stop landed between the child's uid change and its exec in 15 tries");
});
