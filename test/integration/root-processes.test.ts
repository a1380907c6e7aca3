// The helper's root processes are out of the user's reach: keys typed while a
// login starts never signal them; a refusal never parks one on a full pipe;
// one uid holds no more of them than its own process limit allows; timers and
// limits a caller sets can't end or starve them; the session's program holds
// nothing of root's once it is the user's; and the session's monitor, which
// stays root, can't be signalled, stopped, limited or traced by the user.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { logRecords, mustApply, skipReason, testInstall } from '../helpers/install.js';
import { containerRecord, createUser, type TestUser } from '../helpers/users.js';
import { run, runAsync, waitFor, type Result } from '../helpers/system.js';
import { cellshCommand, promptOf } from '../helpers/session.js';
import { Terminal } from '../helpers/terminal.js';
import { childrenOf, fdsOf, limitOf, pidsRunning, statOf, statusField, uidsOf } from '../helpers/processes.js';

const inst = testInstall();
const skip = skipReason(inst);

/** Run file as the user with prlimit's limits applied first (e.g. "--nproc=3"). */
function asUserWith(
  user: TestUser,
  limits: readonly string[],
  file: string,
  args: readonly string[],
  opts: { timeoutMs?: number } = {},
): Promise<Result> {
  return runAsync(
    '/usr/bin/prlimit',
    [
      ...limits,
      '--',
      '/usr/bin/setpriv',
      '--reuid',
      String(user.uid),
      '--regid',
      String(user.gid),
      '--init-groups',
      '--',
      '/usr/bin/env',
      file,
      ...args,
    ],
    { env: { PATH: '/usr/bin:/bin' }, input: '', timeout: opts.timeoutMs ?? 60_000 },
  );
}

/** Hold the user's per-uid lock (as a login in progress would), so their next
 * helper waits in its privileged phase; released after the test. */
async function holdLock(t: TestContext, user: TestUser): Promise<() => void> {
  const file = `${inst!.stateDir}/${user.uid}.lock`;
  const holder = spawn('flock', ['-o', file, 'sleep', '60'], { stdio: 'ignore', detached: true });
  const release = (): void => {
    try {
      process.kill(-holder.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  t.after(release);
  await waitFor('the lock to be held', () => run('flock', ['-n', file, 'true']).status !== 0);
  return release;
}

/** Python that leaves w, a pipe with no room left (not even a byte), blocking. */
const FULL_PIPE = `
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, os.O_NONBLOCK)
for chunk in (4096, 1):
    try:
        while True: os.write(w, b"x" * chunk)
    except BlockingIOError:
        pass
fcntl.fcntl(w, fcntl.F_SETFL, 0)
`;

/** Helper processes of the user's (by the uid the login logged, or by their children). */
const helpers = (): number[] => pidsRunning(inst!.helper);

for (const route of ['the Node login shell', 'the early start'] as const) {
  test(`^C, ^\\ and ^Z typed while a login starts never reach the root helper (su - from a root shell, ${route})`, {
    skip,
  }, async (t) => {
    const user = createUser(t, inst!, route === 'the early start' ? 'rp-keys-es' : 'rp-keys-node');
    // A user allowed settings of their own takes the Node login shell.
    mustApply(
      inst!,
      route === 'the early start' ? 'defaults: {}\n' : `users:\n  ${user.name}:\n    user_may_set: [hostname]\n`,
    );
    assert.equal((await cellshCommand(inst!, user, 'true')).status, 0, 'the container runs');
    const release = await holdLock(t, user);
    const before = new Set(helpers());
    // Root's interactive shell with job control: su is a foreground job of it,
    // in a process group that is not orphaned, so ^Z stops what is in it.
    const term = Terminal.spawn('/bin/bash', ['--norc', '--noprofile', '-i']);
    t.after(() => term.kill());
    await term.expect(/# $/);
    await term.type(`su - ${user.name}\r`);
    const helper = await waitFor("the login's helper", () => helpers().find((p) => !before.has(p)));
    await waitFor('the helper to be root', () => uidsOf(helper)?.[0] === 0);
    // Once Node passes ^C and ^\ on (before, they would end the login itself, as in any shell's first moments).
    await waitFor("the session's Node to handle SIGINT and SIGQUIT", () => {
      const node = Number(
        run('pgrep', ['-u', String(user.uid), '-f', 'dist/src/cli/(attached|login)\\.js'])
          .out.trim()
          .split('\n')[0],
      );
      return node > 0 && (BigInt(`0x${statusField(node, 'SigCgt') ?? '0'}`) & 0x6n) === 0x6n;
    });
    const su = Number(run('pgrep', ['-P', String(term.pid), '-x', 'su']).out.trim());
    const foreground = Number(statOf(su)![5]); // the terminal's foreground process group
    assert.notEqual(
      Number(statOf(helper)![2]),
      foreground,
      "the helper is not in the terminal's foreground process group",
    );
    for (const key of ['\x03', '\x1c', '\x1a']) {
      term.send(key);
      await new Promise((r) => setTimeout(r, 300));
      const state = statOf(helper)?.[0];
      assert.ok(state !== undefined, `the root helper is alive after ${JSON.stringify(key)}`);
      assert.doesNotMatch(state, /[Tt]/, `the root helper is not stopped after ${JSON.stringify(key)}`);
    }
    // The login goes on once the lock is free (the job ^Z stopped goes on with fg).
    release();
    await term.type('fg\r');
    await term.expect(promptOf(user), 20_000);
    await term.type('exit\r');
  });
}

test("a caller who makes the helper their terminal's foreground can't stop or kill it with ^Z or ^C; the ^C reaches the program", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'rp-fgpty');
  mustApply(inst!);
  assert.equal((await cellshCommand(inst!, user, 'true')).status, 0);
  const release = await holdLock(t, user);
  // A pty of the caller's own: its session leader starts the helper in a
  // process group of its own and makes that the terminal's foreground (so the
  // group is not orphaned and ^Z would stop it), stdio elsewhere (terminals on
  // stdio are refused). The helper then waits for the lock the test holds, as root.
  const script = `
import os, pty, signal, sys, time
helper = sys.argv[1]
pid, master = pty.fork()
if pid == 0:
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        os.setpgid(0, 0)
        os.tcsetpgrp(0, os.getpgrp())
        signal.signal(signal.SIGTTOU, signal.SIG_DFL)
        null = os.open("/dev/null", os.O_RDWR)
        for fd in range(3): os.dup2(null, fd)
        os.execv(helper, [helper, "run", "sleep 2"])
    _, status = os.waitpid(child, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xff)
def field(p, name):
    try:
        for line in open("/proc/%d/status" % p):
            if line.startswith(name + ":"): return line.split()[1]
    except OSError:
        return "gone"
for i in range(500):
    kids = open("/proc/%d/task/%d/children" % (pid, pid)).read().split()
    if kids and field(int(kids[0]), "Uid") == "0": break
    time.sleep(0.01)
helper_pid = int(kids[0])
print("helper", helper_pid, flush=True)
for key, name in ((b"\x1a", "^Z"), (b"\x03", "^C")):
    os.write(master, key)
    time.sleep(0.5)
    print(name, field(helper_pid, "State"), field(helper_pid, "Uid"), flush=True)
sys.stdin.readline()  # the test releases the lock
_, status = os.waitpid(pid, 0)
print("status", os.waitstatus_to_exitcode(status), flush=True)
`;
  const proc = spawn(
    '/usr/bin/setpriv',
    [
      '--reuid',
      String(user.uid),
      '--regid',
      String(user.gid),
      '--init-groups',
      '--',
      '/usr/bin/python3',
      '-c',
      script,
      inst!.helper,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } },
  );
  t.after(() => proc.kill('SIGKILL'));
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  await waitFor('both keys typed', () => /\^C /.test(out), 20_000);
  // A helper that ^Z stopped would wait as root for good: it is ended here, by
  // its pid, once the test has seen it.
  const helperPid = Number(/^helper (\d+)$/m.exec(out)?.[1]);
  t.after(() => {
    try {
      if (readFileSync(`/proc/${helperPid}/comm`, 'utf8') === 'cellsh-helper\n') process.kill(helperPid, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  release();
  proc.stdin!.end('\n');
  const closed = await Promise.race([
    new Promise((resolve) => proc.on('close', () => resolve(true))),
    new Promise((resolve) => setTimeout(() => resolve(false), 15_000).unref()),
  ]);
  const lines = out.trim().split('\n').slice(1);
  assert.match(lines[0] ?? '', /^\^Z [SR] 0$/, `^Z stopped the root helper (state T) or it was gone: ${out}`);
  assert.match(lines[1] ?? '', /^\^C [SR] 0$/, `^C ended the root helper or stopped it: ${out}`);
  assert.ok(closed, `the login did not end within 15 s of the lock's release: ${out}`);
  assert.equal(lines[2], 'status 130', 'the ^C, held during setup, ended the program once it ran');
  const exit = logRecords(inst!)
    .filter((l) => l['uid'] === user.uid && l['msg'] === 'exit')
    .at(-1);
  assert.deepEqual([exit?.['status'], exit?.['signal']], [130, 2]);
});

test("a user who owns a cgroup (as a systemd user manager delegates one) can't kill or freeze the root helper through it", {
  skip,
}, async (t) => {
  const v2 = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((d) => existsSync(`${d}/cgroup.subtree_control`));
  if (!v2) return t.skip('no cgroup v2 hierarchy here');
  const user = createUser(t, inst!, 'rp-deleg');
  mustApply(inst!);
  assert.equal((await cellshCommand(inst!, user, 'true')).status, 0);
  const owned = `${v2}/cellsh-t-deleg-${process.pid}`;
  mkdirSync(owned);
  t.after(() => {
    for (const d of [`${owned}/x`, owned])
      try {
        rmdirSync(d);
      } catch {
        /* gone or busy */
      }
  });
  for (const f of ['', '/cgroup.procs', '/cgroup.threads', '/cgroup.subtree_control'])
    chownSync(`${owned}${f}`, user.uid, user.gid);
  // The user's shell starts in their cgroup, makes a child cgroup there, moves
  // itself in and execs the helper; a second process of theirs kills (or
  // freezes) that child cgroup once the helper runs.
  for (const [how, file] of [
    ['cgroup.kill', 'cgroup.kill'],
    ['cgroup.freeze', 'cgroup.freeze'],
  ] as const) {
    const script = `mkdir -p ${owned}/x || exit 9; (sleep 1; echo 1 > ${owned}/x/${file}) & echo $$ > ${owned}/x/cgroup.procs && exec ${inst!.helper} run 'sleep 3'`;
    const shell = spawn(
      '/usr/bin/setpriv',
      [
        '--reuid',
        String(user.uid),
        '--regid',
        String(user.gid),
        '--init-groups',
        '--',
        '/bin/sh',
        '-c',
        `read go; ${script}`,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } },
    );
    writeFileSync(`${owned}/cgroup.procs`, String(shell.pid));
    const started = Date.now();
    shell.stdin!.end('go\n');
    const code = await Promise.race([
      new Promise<number | null>((resolve) => shell.on('close', (c) => resolve(c))),
      new Promise<string>((resolve) => setTimeout(() => resolve('still running after 10 s'), 10_000).unref()),
    ]);
    if (typeof code === 'string') {
      try {
        writeFileSync(`${owned}/x/cgroup.freeze`, '0');
      } catch {
        /* gone */
      }
      shell.kill('SIGKILL');
    }
    assert.equal(code, 0, `${how}: the session ended normally`);
    assert.ok(Date.now() - started < 6000, `${how}: and on time (${Date.now() - started} ms)`);
    const exit = logRecords(inst!)
      .filter((l) => l['uid'] === user.uid && l['msg'] === 'exit')
      .at(-1);
    assert.equal(exit?.['status'], 0, `${how}: its exit event is logged`);
    try {
      writeFileSync(`${owned}/x/cgroup.freeze`, '0');
    } catch {
      /* killed */
    }
  }
});

test("a caller's real-time or idle scheduling class reaches neither the helper nor the program", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'rp-sched');
  mustApply(inst!);
  assert.equal((await cellshCommand(inst!, user, 'true')).status, 0);
  // Real-time, as root (or rtkit, or an rtprio limit) could give a login.
  const rt = await runAsync(
    '/usr/bin/chrt',
    [
      '-f',
      '10',
      '/usr/bin/setpriv',
      '--reuid',
      String(user.uid),
      '--regid',
      String(user.gid),
      '--init-groups',
      '--',
      inst!.helper,
      'run',
      'chrt -p $$',
    ],
    { env: { PATH: '/usr/bin:/bin' } },
  );
  assert.equal(rt.status, 0, rt.err);
  assert.match(rt.out, /scheduling policy: SCHED_OTHER/);
  // Idle, as the user may choose for themselves: the root monitor must not starve.
  const session = asUserWith(user, [], '/usr/bin/chrt', ['-i', '0', inst!.helper, 'run', 'sleep 2']);
  const monitor = await waitFor("the session's monitor", () =>
    helpers().find((p) => childrenOf(p).some((c) => uidsOf(c)?.[0] === user.uid)),
  );
  assert.match(run('chrt', ['-p', String(monitor)]).out, /scheduling policy: SCHED_OTHER/);
  assert.equal((await session).status, 0);
});

test("a refusal to a caller whose stderr pipe is full parks no root process, and counts against the caller's process limit", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'rp-fullpipe');
  mustApply(inst!);
  // 30 helpers refused for their stdin (a folder), each with stderr a full pipe:
  // each blocks writing its refusal. They must do so as the user.
  const script = `${FULL_PIPE}folder = os.open("/", os.O_RDONLY)
started = refused_fork = 0
for i in range(30):
    try:
        subprocess.Popen([sys.argv[1], "run", "true"], stdin=folder, stdout=subprocess.DEVNULL, stderr=w)
        started += 1
    except OSError:
        refused_fork += 1
time.sleep(2)
print(started, refused_fork, flush=True)
time.sleep(60)
`;
  const runner = spawn(
    '/usr/bin/prlimit',
    [
      '--nproc=10',
      '--',
      '/usr/bin/setpriv',
      '--reuid',
      String(user.uid),
      '--regid',
      String(user.gid),
      '--init-groups',
      '--',
      '/usr/bin/python3',
      '-c',
      script,
      inst!.helper,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => {
    for (const p of childrenOf(runner.pid!)) run('kill', ['-KILL', String(p)]);
    try {
      runner.kill('SIGKILL');
    } catch {
      /* gone */
    }
  });
  const line = await new Promise<string>((resolve) =>
    runner.stdout!.once('data', (b: Buffer) => resolve(b.toString())),
  );
  const [started] = line.trim().split(' ').map(Number);
  const mine = childrenOf(runner.pid!).filter((p) => helpers().includes(p)); // prlimit and setpriv exec, so that is python
  const blocked = mine.filter((p) => uidsOf(p)?.[0] === user.uid);
  const asRoot = mine.filter((p) => uidsOf(p)?.[0] === 0 && uidsOf(p)?.[1] === 0);
  assert.equal(asRoot.length, 0, `no helper blocked as root (${asRoot.length} are)`);
  assert.ok(started! < 30, `the caller's process limit stopped its forks (${started} helpers started)`);
  assert.ok(blocked.length <= 10, `at most the caller's process limit of helpers wait (${blocked.length})`);
});

test('a refusal after the helper became root does not wait on a full stderr pipe', { skip }, async (t) => {
  const user = createUser(t, inst!, 'rp-rootpipe');
  mustApply(inst!);
  const script = `${FULL_PIPE}start = time.monotonic()
p = subprocess.Popen([sys.argv[1], "run", "--set", "hostname=not-allowed", "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=w)
try:
    print(p.wait(timeout=10), round(time.monotonic() - start, 1))
except subprocess.TimeoutExpired:
    p.kill()
    print("blocked")
`;
  const r = await asUserWith(user, [], '/usr/bin/python3', ['-c', script, inst!.helper]);
  assert.match(r.out.trim(), /^64 \d/, `the helper refused and exited at once: ${r.out}${r.err}`);
  const denied = logRecords(inst!)
    .filter((l) => l['uid'] === user.uid && l['msg'] === 'denied')
    .at(-1);
  assert.match(String(denied?.['reason']), /hostname/, 'the refusal is in the log');
});

test('one uid holds no more helpers at once than its process limit allows', { skip }, async (t) => {
  const user = createUser(t, inst!, 'rp-slots');
  mustApply(inst!);
  const script = `
import subprocess, sys, time
procs = []
for i in range(6):
    # One at a time, reaping the refused: until a helper has made its real
    # uid root (or been reaped), it counts against the limit this fork needs.
    procs.append(subprocess.Popen([sys.argv[1], "run", "sleep 20"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    time.sleep(0.5)
    for p in procs:
        p.poll()
time.sleep(2)
for p in procs:
    if p.poll() is not None:
        print("refused", p.returncode, p.stderr.read().decode().strip())
    else:
        print("running")
sys.stdout.flush()
`;
  t.after(() => run(inst!.helper, ['stop', String(user.uid)]));
  const r = await asUserWith(user, ['--nproc=3'], '/usr/bin/python3', ['-c', script, inst!.helper]);
  const lines = r.out.trim().split('\n');
  assert.equal(lines.filter((l) => l === 'running').length, 3, r.out + r.err);
  const refused = lines.filter((l) => l.startsWith('refused'));
  assert.equal(refused.length, 3, r.out);
  for (const l of refused)
    assert.match(
      l,
      /^refused 77 cellsh: you have 3 cellsh sessions running or starting, the most your process limit allows/,
    );
});

test("CPU-time interval timers set by the caller can't end the helper while it works as root", { skip }, async (t) => {
  const user = createUser(t, inst!, 'rp-timers');
  mustApply(inst!);
  // Give the helper root work worth tens of milliseconds of CPU: each login
  // below starts the container (namespaces, mounts, cgroup) as root.
  t.after(() => run(inst!.helper, ['stop', String(user.uid)]));
  // Interval timers survive execve(2): set to fire after 2 ms of the
  // process's own CPU time, after exec and well within the container's start.
  for (const timer of ['ITIMER_VIRTUAL', 'ITIMER_PROF']) {
    run(inst!.helper, ['stop', String(user.uid)]);
    const r = await asUserWith(user, [], '/usr/bin/python3', [
      '-c',
      `import os, signal, sys; signal.setitimer(signal.${timer}, 0.002); os.execv(sys.argv[1], [sys.argv[1], "run", "echo ran"])`,
      inst!.helper,
    ]);
    assert.deepEqual([r.status, r.out], [0, 'ran\n'], `${timer}: ${r.err}`);
  }
});

test("the caller's CPU, address-space and stack limits don't reach root code; the program gets them back", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'rp-limits');
  mustApply(inst!);
  t.after(() => run(inst!.helper, ['stop', String(user.uid)]));
  // A small address space and a 16 KiB stack (the helper's log lines are built on its stack).
  const r = await asUserWith(
    user,
    ['--cpu=1:unlimited', '--as=8388608:unlimited', '--stack=16384:unlimited'],
    inst!.helper,
    ['run', 'ulimit -t; ulimit -v; ulimit -s; sleep 3'],
  );
  assert.equal(r.status, 0, r.err);
  assert.deepEqual(r.out.trim().split('\n'), ['1', '8192', '16'], "the program runs with the caller's limits");
  // The container's init (started by that login) and a running session's monitor have none of them.
  const init = Number(containerRecord(inst!, user)!['init_pid']);
  const session = asUserWith(user, ['--cpu=1:unlimited'], inst!.helper, ['run', 'sleep 5']);
  const monitor = await waitFor("the session's monitor", () =>
    helpers().find((p) => childrenOf(p).some((c) => uidsOf(c)?.[0] === user.uid)),
  );
  for (const [who, pid] of [
    ['init', init],
    ['monitor', monitor],
  ] as const) {
    assert.deepEqual(limitOf(pid, 'Max cpu time'), ['unlimited', 'unlimited'], `${who}: no CPU-time limit`);
    assert.deepEqual(limitOf(pid, 'Max address space'), ['unlimited', 'unlimited'], `${who}: no address-space limit`);
  }
  assert.equal((await session).status, 0);
});

test("the session's program holds nothing of root's once it is the user's (caught waiting to send on a full channel)", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'rp-fds');
  mustApply(inst!);
  assert.equal((await cellshCommand(inst!, user, 'true')).status, 0);
  // The user's own channel, its queue filled, as fd 3: the program's process
  // blocks in sending "started", after it became the user.
  const script = `
import os, socket, sys, time
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
b.setblocking(False)
try:
    while True: b.send(b"x" * 1024)
except BlockingIOError:
    pass
b.setblocking(True)
pid = os.fork()
if pid == 0:
    os.dup2(b.fileno(), 3)
    os.execv(sys.argv[1], [sys.argv[1], "run", "echo ran"])
b.close()
time.sleep(float(sys.argv[2]))
while True:
    m = a.recv(4096)
    if m.startswith(b"started"):
        break
os.waitpid(pid, 0)
print("done")
`;
  const session = asUserWith(user, [], '/usr/bin/python3', ['-c', script, inst!.helper, '6']);
  const monitor = await waitFor("the session's monitor", () =>
    helpers().find((p) => childrenOf(p).length > 0 && uidsOf(p)?.[0] === 0),
  );
  const child = await waitFor("the program's process, as the user", () =>
    childrenOf(monitor).find((c) => uidsOf(c)?.[0] === user.uid),
  );
  await waitFor(
    'it to wait on the full channel',
    () => statOf(child)?.[0] === 'S' && fdsOf(child).some((f) => f.target === 'anon_inode:[pidfd]'),
  );
  const fds = fdsOf(child);
  for (const f of fds) {
    assert.ok(!f.target.startsWith(inst!.root), `fd ${f.fd} is a file of the installation: ${f.target}`);
    if (f.pidfdOf !== undefined)
      assert.equal(f.pidfdOf, child, `fd ${f.fd} is a pidfd of another process (${f.pidfdOf}), not its own`);
    assert.match(f.target, /^(pipe:|socket:|anon_inode:\[pidfd\]|\/dev\/null)/, `fd ${f.fd}: ${f.target}`);
  }
  assert.equal((await session).out, 'ran\ndone\n', 'the session went on once the channel had room');
});

test("the container's init holds nothing of root's once it is the user's (caught while the helper records it)", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'rp-initfds');
  mustApply(inst!);
  t.after(() => run(inst!.helper, ['stop', String(user.uid)]));
  // The helper's rename of the new record, held back 3 s by strace (root,
  // so the setuid exec still counts): meanwhile the init, already the user,
  // waits for the go-ahead.
  const traced = runAsync(
    'strace',
    [
      '-f',
      '-o',
      '/dev/null',
      '-e',
      'trace=renameat,renameat2',
      '-e',
      'inject=renameat,renameat2:delay_enter=3000000',
      '--',
      '/usr/bin/setpriv',
      '--reuid',
      String(user.uid),
      '--regid',
      String(user.gid),
      '--init-groups',
      '--',
      inst!.helper,
      'run',
      'true',
    ],
    { env: { PATH: '/usr/bin:/bin' } },
  );
  const init = await waitFor('the new init, as the user', () =>
    helpers().find((p) => {
      try {
        return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'cellsh-init' && uidsOf(p)?.[0] === user.uid;
      } catch {
        return false;
      }
    }),
  );
  const fds = fdsOf(init);
  assert.ok(fds.length > 0);
  for (const f of fds) {
    assert.ok(!f.target.startsWith(inst!.root), `fd ${f.fd} is a file of the installation: ${f.target}`);
    assert.equal(f.pidfdOf, undefined, `fd ${f.fd} is a pidfd`);
    assert.match(f.target, /^(pipe:|socket:|\/dev\/null)/, `fd ${f.fd}: ${f.target}`);
  }
  // strace follows the init too, which lives on: once the session has
  // ended (its exit is logged), stop the container so strace ends.
  const exit = await waitFor(
    "the session's exit",
    () => logRecords(inst!).find((l) => l['uid'] === user.uid && l['msg'] === 'exit'),
    15_000,
  );
  assert.equal(exit['status'], 0, 'the login went on');
  run(inst!.helper, ['stop', String(user.uid)]);
  await traced;
});

test("the session's monitor stays root: the user can't signal, stop, renice, limit or trace it; root's signals still reach the program", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'rp-monitor');
  mustApply(inst!);
  const session = asUserWith(user, [], inst!.helper, ['run', 'sleep 30']);
  const monitor = await waitFor("the session's monitor", () =>
    helpers().find((p) => childrenOf(p).some((c) => uidsOf(c)?.[0] === user.uid)),
  );
  t.after(() => run('kill', ['-KILL', String(monitor)]));
  assert.deepEqual(uidsOf(monitor), [0, 0, 0, 0]);
  for (const field of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
    assert.equal(statusField(monitor, field), '0000000000000000', field);
  assert.equal(statusField(monitor, 'NoNewPrivs'), '1');
  for (const [what, argv] of [
    ['kill -STOP', ['/bin/kill', '-STOP', String(monitor)]],
    ['kill -KILL', ['/bin/kill', '-KILL', String(monitor)]],
    ['renice', ['/usr/bin/renice', '-n', '19', '-p', String(monitor)]],
    ['prlimit', ['/usr/bin/prlimit', `--pid=${monitor}`, '--fsize=1']],
    [
      'gdb attach',
      [
        '/usr/bin/python3',
        '-c',
        `import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); sys.exit(0 if libc.ptrace(16, ${monitor}, 0, 0) == 0 else 1)`,
      ],
    ],
  ] as const) {
    const r = await asUserWith(user, [], argv[0], argv.slice(1));
    assert.notEqual(r.status, 0, `${what} by the user must fail: ${r.out}${r.err}`);
  }
  assert.match(statOf(monitor)![0]!, /^[SR]$/, 'still running, not stopped');
  // Root (sshd, su, cellsh-admin) still ends the session through it.
  run('kill', ['-TERM', String(monitor)]);
  const r = await session;
  assert.equal(r.status, 143, `the program died of the SIGTERM the monitor passed on: ${r.err}`);
  const exit = logRecords(inst!)
    .filter((l) => l['uid'] === user.uid && l['msg'] === 'exit')
    .at(-1);
  assert.equal(exit?.['status'], 143);
});
