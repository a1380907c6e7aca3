// The helper's defences, each shown by an attack that fails —
// identity from the real uid only; environment and fds sanitized; the home
// opened without following the user's symlinks; no_new_privs and empty
// capability sets (a setuid binary inside does not elevate); no host pid or
// process visible inside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chownSync,
  copyFileSync,
  chmodSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import { logRecords, mustApply, skipReason, testInstall } from '../helpers/install.js';
import { asUser, containerRecord, createUser } from '../helpers/users.js';
import { must, run, runAsync, waitFor } from '../helpers/system.js';
import { cellshCommand } from '../helpers/session.js';
import { containerLimit } from '../helpers/cgroups.js';

const inst = testInstall();
const skip = skipReason(inst);

test("identity comes from the real uid only: A cannot enter, create or stop B's container", { skip }, async (t) => {
  const a = createUser(t, inst!, 'p9-a');
  const b = createUser(t, inst!, 'p9-b');
  mustApply(inst!, `users:\n  ${b.name}:\n    hostname: b-box\n    limits: {pids: 33}\n`);
  assert.equal((await cellshCommand(inst!, b, 'true')).status, 0);
  const bRecord = containerRecord(inst!, b)!;
  const lies = {
    PATH: '/usr/bin:/bin',
    USER: b.name,
    LOGNAME: b.name,
    HOME: b.home,
    SUDO_UID: String(b.uid),
    CELLSH_UID: String(b.uid),
  };
  const r = await asUser(a, inst!.helper, ['run', 'id -un; hostname; echo $HOME; readlink /proc/self/ns/pid'], {
    env: lies,
  });
  assert.equal(r.status, 0, r.err);
  const [who, host, home, ns] = r.out.trim().split('\n');
  assert.deepEqual([who, host, home], [a.name, a.name, a.home]);
  assert.notEqual(ns, run('readlink', [`/proc/${bRecord['init_pid']}/ns/pid`]).out.trim(), "A is in A's own container");
  assert.notEqual(containerLimit(inst!, a.uid, 'pids'), '33', "B's limits are not A's");
  const stop = await asUser(a, inst!.helper, ['stop', String(b.uid)]);
  assert.equal(stop.status, 77);
  assert.match(stop.err, /only root may stop another user's container/);
  for (const argv of [
    ['run', '--uid', String(b.uid), 'id'],
    ['login', '--pty', `1:1x1`, String(b.uid)],
    ['stop', String(b.uid), 'now'],
  ]) {
    assert.equal((await asUser(a, inst!.helper, argv)).status, 64, argv.join(' '));
  }
  assert.deepEqual(containerRecord(inst!, b), bRecord, "B's container is untouched");
  assert.equal(run('kill', ['-0', bRecord['init_pid']!]).status, 0, "B's init still runs");
});

test('the environment reaching the container is the allowlist only, whatever the caller sets', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p9-env');
  mustApply(inst!);
  const hostile = {
    PATH: '/tmp/evil',
    LD_PRELOAD: '/tmp/evil.so',
    LD_LIBRARY_PATH: '/tmp',
    GLIBC_TUNABLES: 'glibc.malloc.mxfast=1',
    GCONV_PATH: '.',
    LOCPATH: '/tmp',
    NLSPATH: '/tmp/%N',
    TZ: '/etc/shadow',
    MALLOC_CHECK_: '3',
    ASAN_OPTIONS: 'log_path=/etc/x',
    NODE_OPTIONS: '--require=/tmp/x.js',
    BASH_ENV: '/tmp/x',
    ENV: '/tmp/x',
    SHELLOPTS: 'xtrace',
    PS4: '$(id)',
    TERM: 'xterm-256color',
    LANG: 'C.UTF-8',
    LC_TIME: 'C',
    TERMINFO: '/tmp',
    HOME: '/root',
    USER: 'root',
  };
  const r = await asUser(user, inst!.helper, ['run', 'env -0'], { env: hostile });
  assert.equal(r.status, 0, r.err);
  const names = r.out
    .split('\0')
    .filter(Boolean)
    .map((kv) => kv.slice(0, kv.indexOf('=')))
    .sort();
  // What the helper sets, the allowlisted session variables, and what bash itself adds.
  const given = ['HOME', 'LANG', 'LC_TIME', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER', 'XDG_RUNTIME_DIR'];
  assert.deepEqual(
    names.filter((n) => !['PWD', 'SHLVL', '_'].includes(n)),
    given,
  );
  const env = Object.fromEntries(
    r.out
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  assert.equal(env['HOME'], user.home);
  assert.equal(env['USER'], user.name);
  assert.match(env['PATH']!, /^\/usr\/local\/bin:\/usr\/bin:\/bin/);
  for (const bad of [
    'LD_PRELOAD',
    'LD_LIBRARY_PATH',
    'GLIBC_TUNABLES',
    'GCONV_PATH',
    'TZ',
    'NODE_OPTIONS',
    'BASH_ENV',
    'TERMINFO',
    'PS4',
  ]) {
    assert.equal(env[bad], undefined, `${bad} must not reach the container`);
  }
});

test('no caller fd reaches the container, and a closed stdio fd is handled', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p9-fds');
  mustApply(inst!);
  // Open a pile of fds (directories, /etc, a socket) and exec the helper with them.
  const script = [
    'import os, socket, sys',
    'keep = [os.open("/", os.O_RDONLY), os.open("/etc", os.O_RDONLY), os.open("/etc/passwd", os.O_RDONLY)]',
    'keep.append(os.open("/etc/shadow", os.O_PATH))',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); keep.append(s.fileno())',
    'for fd in keep: os.set_inheritable(fd, True)',
    `os.execv("${inst!.helper}", ["cellsh-helper", "run", "ls -l /proc/self/fd | tail -n +2; readlink /proc/self/cwd"])`,
  ].join('\n');
  const r = await asUser(user, '/usr/bin/python3', ['-c', script]);
  assert.equal(r.status, 0, r.err);
  const fds = r.out
    .trim()
    .split('\n')
    .filter((l) => /->/.test(l))
    .map((l) => l.split(/\s+/).slice(-3));
  assert.deepEqual(
    fds.map((f) => f[0]),
    ['0', '1', '2', '3'],
    `only stdio and ls's own dir fd: ${r.out}`,
  );
  assert.equal(fds[3]![2], '/proc/3/fd');
  assert.doesNotMatch(r.out, /shadow|\/etc/);
  assert.equal(r.out.trim().split('\n').at(-1), user.home, "the caller's cwd is not kept");
  // stdout closed: the helper still works and nothing lands on a reused fd 1.
  const closed = await asUser(user, '/bin/sh', ['-c', `exec 1>&-; ${inst!.helper} run 'echo to-stderr >&2'`]);
  assert.equal(closed.status, 0, closed.err);
  assert.equal(closed.err, 'to-stderr\n');
});

test("the home is opened without following the user's symlinks", { skip }, async (t) => {
  const user = createUser(t, inst!, 'p9-home');
  const other = createUser(t, inst!, 'p9-other');
  mustApply(inst!);
  // Links inside the home lead nowhere useful: the container has no host /etc/shadow or /root.
  symlinkSync('/etc/shadow', `${user.home}/shadow`);
  symlinkSync('/root', `${user.home}/rootdir`);
  const inside = await cellshCommand(inst!, user, 'cat ~/shadow; ls ~/rootdir/; echo done');
  assert.equal(inside.out, 'done\n');
  assert.match(inside.err, /No such file|Permission denied/);
  must(inst!.helper, ['stop', String(user.uid)]);
  // The home itself replaced by a symlink to /etc, or to another user's home: refused.
  const real = `${user.home}.real`;
  renameSync(user.home, real);
  try {
    for (const target of ['/etc', other.home]) {
      symlinkSync(target, user.home);
      const r = await cellshCommand(inst!, user, 'echo should-not-run');
      assert.equal(r.status, 77, `${target}: ${r.out}${r.err}`);
      assert.match(r.err, /is a symlink or not a folder/);
      assert.equal(containerRecord(inst!, user), undefined);
      rmSync(user.home);
    }
    // A home that belongs to someone else: refused.
    mkdirSync(user.home);
    chownSync(user.home, other.uid, other.gid);
    const r = await cellshCommand(inst!, user, 'echo should-not-run');
    assert.equal(r.status, 77);
    assert.match(r.err, /does not belong to you/);
  } finally {
    rmSync(user.home, { recursive: true, force: true });
    renameSync(real, user.home);
  }
});

test('no_new_privs and empty capability sets: a setuid-root binary inside does not elevate', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p9-caps');
  mustApply(inst!);
  const status = (await cellshCommand(inst!, user, 'grep -E "^(Cap|NoNewPrivs)" /proc/self/status /proc/1/status')).out;
  for (const line of status.trim().split('\n')) {
    assert.match(line, /(Cap(Inh|Prm|Eff|Bnd|Amb):\s+0{16}|NoNewPrivs:\s+1)$/, line);
  }
  // A root-owned setuid copy of id in the home, and the host's own setuid programs.
  copyFileSync('/usr/bin/id', `${user.home}/suid-id`);
  chmodSync(`${user.home}/suid-id`, 0o4755);
  const r = await cellshCommand(inst!, user, '~/suid-id -u; ~/suid-id -ru; su -c id root </dev/null; echo su=$?');
  assert.equal(r.out, `${user.uid}\n${user.uid}\nsu=1\n`, r.err);
  const mounts = (await cellshCommand(inst!, user, 'grep -E " (/usr|/home/[^ ]+) " /proc/self/mountinfo')).out;
  for (const line of mounts.trim().split('\n')) assert.match(line, /nosuid/, line);
});

test('nothing inside sees a host pid or a host process', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p9-pids');
  mustApply(inst!);
  const r = await cellshCommand(inst!, user, 'ps -e -o pid=,comm=');
  const procs = r.out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/));
  assert.deepEqual(procs.map((p) => p[1]).sort(), ['cellsh-init', 'ps'], r.out);
  assert.ok(
    procs.every((p) => Number(p[0]) < 100),
    `container pids are its own: ${r.out}`,
  );
  // The test runner is a host process: by its host pid it is not there.
  const host = await cellshCommand(inst!, user, `cat /proc/${process.pid}/cmdline`);
  assert.notEqual(host.status, 0);
  assert.doesNotMatch(host.out, /node/);
});

test("the caller's rlimits can't cut a root write short, and the program gets them back", { skip }, async (t) => {
  const user = createUser(t, inst!, 'p9-rlimit');
  mustApply(inst!);
  await cellshCommand(inst!, user, 'true');
  // Allow only a few bytes more than the log already has: a helper running with
  // this limit would write part of a line and be killed by SIGXFSZ.
  const limit = statSync(inst!.logFile).size + 60;
  const soft = await asUser(user, '/usr/bin/prlimit', [
    `--fsize=${limit}:unlimited`,
    '--',
    inst!.helper,
    'run',
    'ulimit -f',
  ]);
  assert.equal(soft.status, 0, soft.err);
  assert.equal(soft.out.trim(), String(Math.floor(limit / 1024)), "the program runs with the caller's file-size limit");
  // A hard limit: lifted where root may (CAP_SYS_RESOURCE), refused where it may not.
  const hard = await asUser(user, '/usr/bin/prlimit', [
    `--fsize=${statSync(inst!.logFile).size + 60}`,
    '--',
    inst!.helper,
    'run',
    'true',
  ]);
  assert.ok(
    hard.status === 0 || (hard.status === 64 && /file-size limit/.test(hard.err)),
    `${hard.status}: ${hard.err}`,
  );
  const records = logRecords(inst!); // throws on any line that is not whole JSON
  assert.ok(records.filter((x) => x['user'] === user.name && x['event'] === 'login').length >= 2);
  const nofile = await asUser(user, '/usr/bin/prlimit', ['--nofile=8', '--', inst!.helper, 'run', 'true']);
  assert.equal(nofile.status, 64);
  assert.match(nofile.err, /open-files limit/);
  assert.ok(containerRecord(inst!, user), 'a starved helper leaves the running container alone');
});

test('real-time and nice limits of the login never reach the container (the cpu limit does not hold real-time tasks)', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'p9-rtprio');
  mustApply(inst!);
  const asUserWith = (limits: string[], command: string) =>
    runAsync(
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
        inst!.helper,
        'run',
        command,
      ],
      { env: { PATH: '/usr/bin:/bin' }, input: '' },
    );
  // Control: the login really has the limits (as pam_limits' "rtprio 95" would give it).
  // Raising a hard limit needs CAP_SYS_RESOURCE, which root lacks on some hosts (this one).
  const control = await asUserWith(['--rtprio=95', '--nice=30', '--rttime=unlimited'], 'true');
  if (control.status !== 0 && /RTPRIO.*Operation not permitted/.test(control.err)) {
    t.skip('root here lacks CAP_SYS_RESOURCE, so no login can be given a real-time limit to pass on');
    return;
  }
  assert.equal(control.status, 0, control.err);
  const outside = await runAsync(
    '/usr/bin/prlimit',
    [
      '--rtprio=95',
      '--nice=30',
      '--',
      '/usr/bin/setpriv',
      '--reuid',
      String(user.uid),
      '--regid',
      String(user.gid),
      '--init-groups',
      '--',
      '/bin/sh',
      '-c',
      'ulimit -r; ulimit -e',
    ],
    { env: { PATH: '/usr/bin:/bin' }, input: '' },
  );
  assert.deepEqual(outside.out.trim().split('\n'), ['95', '30'], 'the limits pass to a plain program');
  const inside = await asUserWith(
    ['--rtprio=95', '--nice=30'],
    'ulimit -r; ulimit -e; chrt -f 1 true && echo rt-allowed || echo rt-refused',
  );
  assert.equal(inside.status, 0, inside.err);
  assert.deepEqual(inside.out.trim().split('\n'), ['0', '0', 'rt-refused']);
});

test("the caller cannot signal the helper while it is privileged; root's stop does not wait on a wedged login", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'p9-signal');
  mustApply(inst!);
  await cellshCommand(inst!, user, 'true');
  // Hold the user's lock, so their next helper waits inside its privileged phase.
  const holder = spawn('flock', ['-o', `${inst!.stateDir}/${user.uid}.lock`, 'sleep', '30'], {
    stdio: 'ignore',
    detached: true,
  });
  const release = (): void => {
    try {
      process.kill(-holder.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  t.after(release);
  await waitFor(
    'the lock to be held',
    () => run('flock', ['-n', `${inst!.stateDir}/${user.uid}.lock`, 'true']).status !== 0,
  );
  const waiting = asUser(user, inst!.helper, ['run', 'echo joined']);
  const helperPid = await waitFor(
    'the helper',
    () =>
      run('pgrep', ['-f', `^${inst!.helper} run echo joined`])
        .out.trim()
        .split('\n')[0],
  );
  const kill = await asUser(user, '/bin/kill', ['-STOP', helperPid]);
  assert.notEqual(kill.status, 0);
  assert.match(kill.err, /Operation not permitted/);
  assert.match(
    readFileSync(`/proc/${helperPid}/status`, 'utf8'),
    /^Uid:\s+0\s+0\s+0\s+0$/m,
    "no trace of the caller's uid",
  );
  const started = Date.now();
  const stop = run(inst!.helper, ['stop', String(user.uid)]);
  assert.equal(stop.status, 0, stop.err);
  assert.ok(Date.now() - started < 15_000, "root's stop goes ahead after a short wait");
  assert.equal(containerRecord(inst!, user), undefined);
  release();
  const r = await waiting;
  assert.equal(r.out, 'joined\n', `the waiting login went on once the lock was free: ${r.err}`);
});

test('stdio fds that are handles on the host (O_PATH, folders, devices) are refused', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p9-stdio');
  mustApply(inst!);
  const via = (stdin: string): Promise<ReturnType<typeof run>> =>
    asUser(user, '/usr/bin/python3', [
      '-c',
      [
        'import os, sys',
        `fd = ${stdin}`,
        'os.dup2(fd, 0)',
        `os.execv("${inst!.helper}", ["cellsh-helper", "run", "echo ran"])`,
      ].join('\n'),
    ]);
  for (const [what, stdin] of [
    ['O_PATH', 'os.open("/etc/shadow", os.O_PATH)'],
    ['a folder', 'os.open("/", os.O_RDONLY)'],
  ] as const) {
    const r = await via(stdin);
    assert.equal(r.status, 64, `${what}: ${r.out}${r.err}`);
    assert.match(r.err, /refusing fd 0/);
  }
  // A device fd handed down by a more privileged parent (opened as root, then
  // the process becomes the user and runs the helper).
  const groupGid = Number(must('getent', ['group', inst!.group]).out.split(':')[2]);
  const device = run('/usr/bin/python3', [
    '-c',
    [
      'import os',
      'fd = os.open("/dev/net/tun", os.O_RDWR)',
      'os.dup2(fd, 0)',
      `os.setgroups([${groupGid}]); os.setresgid(${user.gid}, ${user.gid}, ${user.gid}); os.setresuid(${user.uid}, ${user.uid}, ${user.uid})`,
      `os.execv("${inst!.helper}", ["cellsh-helper", "run", "echo ran"])`,
    ].join('\n'),
  ]);
  assert.equal(device.status, 64, device.out + device.err);
  assert.match(device.err, /refusing fd 0/);
  assert.equal((await via('os.open("/dev/null", os.O_RDONLY)')).out, 'ran\n');
  assert.equal((await via('os.open("/etc/hostname", os.O_RDONLY)')).out, 'ran\n', 'a plain file is fine');
});

test('a cellsh-inside that users may read is refused, and a session that needs it fails closed, naming it', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'hd-inside');
  // Settings of the user's own take the Node path, whose channel needs cellsh-inside.
  mustApply(inst!, `users:\n  ${user.name}:\n    user_may_set: [hostname]\n`);
  const inside = join(dirname(inst!.helper), 'cellsh-inside');
  chmodSync(inside, 0o755);
  t.after(() => chmodSync(inside, 0o711));
  const r = await cellshCommand(inst!, user, 'echo ran');
  assert.equal(r.status, 78, r.err);
  assert.doesNotMatch(r.out, /ran/);
  assert.match(r.err, /refusing ".*cellsh-inside": users may read it \(mode 0755\)/);
  chmodSync(inside, 0o711);
  assert.equal((await cellshCommand(inst!, user, 'echo ran')).out, 'ran\n');
});
