// The libc calls Node lacks, each against the real thing: NSS lookups against
// /etc/passwd and /etc/group, the helper channel on a real SEQPACKET pair (fds
// sent by a small Python peer), a child Node did not start reaped with its
// status, signals through a pidfd, and terminal calls on a real pty.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  fstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import {
  closeFd,
  getgrgid,
  getgrnam,
  getgrouplist,
  getpwnam,
  getpwuid,
  listGroups,
  listUsers,
  makeRaw,
  openPtyPeer,
  pidfdSignal,
  receiveMessage,
  restoreTerminal,
  seqpacketPair,
  setNonBlocking,
  setWindowSize,
  type ChannelMessage,
} from '../../../src/sys/libc.js';
import { packageRoot } from '../../helpers/fixtures.js';
import { ptyPair } from '../../helpers/pty-pair.js';

const O_ACCMODE = 0o3;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const SIGTERM = 15;
const SIGKILL = 9;
const EBADF = 9;
const ECHILD = 10;
const ENOTTY = 25;
const ENOTSOCK = 88;

/** The open flags of one of this process's fds, as the kernel shows them. */
function fdFlags(fd: number): number {
  return Number.parseInt(/^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
}

/** Lines of a colon-separated account file, as fields. Test accounts other runs
 * add and remove meanwhile (cellsh-t-...) are left out. */
function accountLines(file: string): string[][] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('cellsh-t-'))
    .map((l) => l.split(':'));
}

function passwdOf(f: string[]): object {
  return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), gecos: f[4], home: f[5], shell: f[6] };
}

function groupOf(f: string[]): object {
  return { name: f[0], gid: Number(f[2]), members: f[3] === '' ? [] : f[3]!.split(',') };
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-t-libc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---- users and groups ------------------------------------------------------

test('each user of /etc/passwd is found by name and by uid, field for field', () => {
  const lines = accountLines('/etc/passwd');
  assert.ok(
    lines.some((f) => f[0] === 'root'),
    'root is listed',
  );
  for (const f of lines) {
    assert.deepEqual(getpwnam(f[0]!), passwdOf(f), f[0]);
    const first = lines.find((g) => g[2] === f[2])!;
    assert.deepEqual(getpwuid(Number(f[2])), passwdOf(first), `uid ${f[2]}`);
  }
});

test('the user running the tests is found as the system knows them', () => {
  const me = userInfo();
  const entry = getpwuid(me.uid);
  assert.ok(entry, `uid ${me.uid} is in the user database`);
  assert.deepEqual(
    [entry.name, entry.uid, entry.gid, entry.home, entry.shell],
    [me.username, me.uid, me.gid, me.homedir, me.shell],
  );
  assert.deepEqual(getpwnam(me.username), entry);
});

test('an unknown user or group is undefined, not an error', () => {
  assert.equal(getpwnam('cellsh-no-such-user'), undefined);
  assert.equal(getpwuid(3_999_999_001), undefined);
  assert.equal(getgrnam('cellsh-no-such-group'), undefined);
  assert.equal(getgrgid(3_999_999_001), undefined);
});

test('each group of /etc/group is found by name and by gid, with its members in order', () => {
  const lines = accountLines('/etc/group');
  for (const f of lines) {
    assert.deepEqual(getgrnam(f[0]!), groupOf(f), f[0]);
    const first = lines.find((g) => g[2] === f[2])!;
    assert.deepEqual(getgrgid(Number(f[2])), groupOf(first), `gid ${f[2]}`);
  }
});

test('the enumerations list every user and group of the files, in their order', () => {
  const users = listUsers().filter((u) => !u.name.startsWith('cellsh-t-'));
  const groups = listGroups().filter((g) => !g.name.startsWith('cellsh-t-'));
  assert.deepEqual(users.slice(0, accountLines('/etc/passwd').length), accountLines('/etc/passwd').map(passwdOf));
  assert.deepEqual(groups.slice(0, accountLines('/etc/group').length), accountLines('/etc/group').map(groupOf));
});

test("a user's groups are those id(1) gives, the primary one first", () => {
  for (const name of ['root', userInfo().username]) {
    const user = getpwnam(name)!;
    const id = spawnSync('id', ['-G', name], { encoding: 'utf8' });
    assert.equal(id.status, 0, id.stderr);
    const groups = getgrouplist(name, user.gid);
    assert.equal(groups[0], user.gid, name);
    assert.deepEqual([...new Set(groups)].sort(), [...new Set(id.stdout.trim().split(' ').map(Number))].sort(), name);
  }
});

// ---- the helper channel -----------------------------------------------------

/** A SEQPACKET pair, both ends closed after the test (unless closed before). */
function channel(t: TestContext): { ours: number; peer: number; closePeer(): void } {
  const [ours, peer] = seqpacketPair();
  let peerOpen = true;
  const closePeer = (): void => {
    if (peerOpen) closeSync(peer);
    peerOpen = false;
  };
  t.after(() => {
    closePeer();
    closeSync(ours);
  });
  return { ours, peer, closePeer };
}

test('a channel is a pair of close-on-exec sockets whose messages keep their bounds', async (t) => {
  const ch = channel(t);
  for (const fd of [ch.ours, ch.peer]) assert.equal(fdFlags(fd) & O_CLOEXEC, O_CLOEXEC, `fd ${fd} is close-on-exec`);
  writeSync(ch.peer, 'started a');
  writeSync(ch.peer, 'b');
  writeSync(ch.peer, 'x'.repeat(4096));
  assert.deepEqual(await receiveMessage(ch.ours), { text: 'started a', fds: [] });
  assert.deepEqual(await receiveMessage(ch.ours), { text: 'b', fds: [] });
  assert.deepEqual(
    await receiveMessage(ch.ours),
    { text: 'x'.repeat(4096), fds: [] },
    'a message of 4 KiB comes whole',
  );
});

test('a message not sent yet is waited for, and the peer closing is the end', async (t) => {
  const ch = channel(t);
  const later = receiveMessage(ch.ours);
  setTimeout(() => writeSync(ch.peer, 'later'), 100);
  assert.deepEqual(await later, { text: 'later', fds: [] });
  const end = receiveMessage(ch.ours);
  setTimeout(() => ch.closePeer(), 100);
  assert.equal(await end, undefined);
  assert.equal(await receiveMessage(ch.ours), undefined, 'and stays the end');
});

test('a channel fd that is no socket is an error, not the end', async (t) => {
  const fd = openSync('/dev/null', 'r');
  t.after(() => closeSync(fd));
  await assert.rejects(
    receiveMessage(fd),
    (e: Error & { errno: number }) => e.errno === ENOTSOCK && /recvmsg/.test(e.message),
  );
});

const python = spawnSync('python3', ['-c', 'import socket, os; socket.send_fds; os.pidfd_open'], { encoding: 'utf8' });
const NEEDS_PYTHON = python.status === 0 ? false : 'needs python3 (3.9 or later) to send fds and open a pidfd';

/** Run a Python peer with the channel's other end as its fd 3; resolves with its exit status. */
function pythonPeer(
  t: TestContext,
  ch: { peer: number; closePeer(): void },
  script: string,
  args: string[] = [],
): Promise<number | null> {
  const child = spawn('python3', ['-c', script, ...args], { stdio: ['ignore', 'inherit', 'inherit', ch.peer] });
  ch.closePeer();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  return exited;
}

test('fds sent with a message arrive in order, each close-on-exec', { skip: NEEDS_PYTHON }, async (t) => {
  const dir = tempDir(t);
  const files = ['one', 'two', 'three'].map((n) => join(dir, n));
  for (const f of files) writeFileSync(f, f);
  const ch = channel(t);
  const peer = pythonPeer(
    t,
    ch,
    `
import os, socket, sys
ch = socket.socket(fileno=3)
fds = [os.open(f, os.O_RDONLY) for f in sys.argv[1:]]
socket.send_fds(ch, [b'started with fds'], fds)
`,
    files,
  );
  assert.equal(await peer, 0, 'the message is sent (and taken at once below; the pidfd test waits for one)');
  const msg = (await receiveMessage(ch.ours)) as ChannelMessage;
  t.after(() => {
    for (const fd of msg.fds) closeFd(fd);
  });
  assert.equal(msg.text, 'started with fds');
  assert.deepEqual(
    msg.fds.map((fd) => fstatSync(fd).ino),
    files.map((f) => statSync(f).ino),
  );
  for (const fd of msg.fds) assert.equal(fdFlags(fd) & O_CLOEXEC, O_CLOEXEC, `fd ${fd} is close-on-exec`);
  assert.equal(await receiveMessage(ch.ours), undefined, 'the peer ended');
});

test('closeFd closes the fd', () => {
  const fd = openSync('/dev/null', 'r');
  closeFd(fd);
  assert.throws(() => fstatSync(fd), { code: 'EBADF' });
});

// ---- children Node did not start, and pidfds ----------------------------------

test('a child Node did not start is reaped with its exit code, 128+N for signal N, once', { timeout: 20_000 }, () => {
  // The shell starts both children, then becomes Node: they are Node's children, not libuv's.
  // (The first ends only after the exec, or the shell would reap it.)
  const libc = join(packageRoot(), 'dist', 'src', 'sys', 'libc.js');
  const script = `
const { reapChild } = require(${JSON.stringify(libc)});
const [exiting, sleeping] = process.argv.slice(1).map(Number);
const pause = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
const reap = (pid) => { for (let i = 0; i < 2000; i++) { const c = reapChild(pid); if (c !== undefined) return c; pause(); } };
const errno = (f) => { try { f(); return 'none'; } catch (e) { return e.errno; } };
const out = { running: reapChild(sleeping) ?? 'running', exited: reap(exiting), again: errno(() => reapChild(exiting)) };
process.kill(sleeping, 'SIGKILL');
Object.assign(out, { killed: reap(sleeping), notOurs: errno(() => reapChild(1)) });
process.stdout.write(JSON.stringify(out));
`;
  const r = spawnSync(
    '/bin/sh',
    ['-c', '(sleep 0.5; exit 7) & a=$!; sleep 30 & b=$!; exec "$0" -e "$1" "$a" "$b"', process.execPath, script],
    { encoding: 'utf8', timeout: 15_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    running: 'running',
    exited: 7,
    again: ECHILD,
    killed: 128 + SIGKILL,
    notOurs: ECHILD,
  });
});

test('a signal sent through a pidfd reaches its process; once it is reaped, the pidfd says so', {
  skip: NEEDS_PYTHON,
  timeout: 20_000,
}, async (t) => {
  const ch = channel(t);
  // The peer starts a process, sends its pidfd, and says how it ended once it is reaped.
  const peer = pythonPeer(
    t,
    ch,
    `
import os, socket, subprocess
ch = socket.socket(fileno=3)
p = subprocess.Popen(['sleep', '30'])
socket.send_fds(ch, [b'pidfd'], [os.pidfd_open(p.pid)])
_, status = os.waitpid(p.pid, 0)
ch.send(b'reaped, signal %d' % os.WTERMSIG(status) if os.WIFSIGNALED(status) else b'reaped, exit')
ch.recv(1)
`,
  );
  const msg = (await receiveMessage(ch.ours)) as ChannelMessage;
  assert.equal(msg.fds.length, 1);
  const pidfd = msg.fds[0]!;
  t.after(() => closeFd(pidfd));
  assert.equal(fdFlags(pidfd) & O_CLOEXEC, O_CLOEXEC, 'a pidfd waited for is close-on-exec too');
  assert.equal(pidfdSignal(pidfd, 0), true, 'it runs');
  assert.equal(pidfdSignal(pidfd, SIGTERM), true);
  assert.equal((await receiveMessage(ch.ours))?.text, `reaped, signal ${SIGTERM}`);
  assert.equal(pidfdSignal(pidfd, 0), false, 'it is gone');
  assert.equal(pidfdSignal(pidfd, SIGTERM), false);
  writeSync(ch.ours, '.');
  assert.equal(await peer, 0);
  const notPidfd = openSync('/dev/null', 'r');
  t.after(() => closeSync(notPidfd));
  assert.throws(
    () => pidfdSignal(notPidfd, 0),
    (e: Error & { errno: number }) => e.errno === EBADF && /pidfd_send_signal/.test(e.message),
  );
});

// ---- terminals ----------------------------------------------------------------

/** stty run on a terminal fd: its settings (-g), all of them (-a) or its size. */
function stty(fd: number, arg: '-g' | '-a' | 'size'): string {
  const r = spawnSync('stty', [arg], { stdio: [fd, 'pipe', 'pipe'], encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test("raw mode is cfmakeraw's, output processing off too, and restoring gives the settings back", (t) => {
  const pty = ptyPair(t);
  const before = stty(pty.slave, '-g');
  const cooked = stty(pty.slave, '-a').split(/\s+/);
  assert.ok(cooked.includes('icanon') && cooked.includes('opost'), 'a new pty is cooked');
  const saved = makeRaw(pty.slave);
  const raw = stty(pty.slave, '-a').split(/\s+/);
  for (const flag of ['-icanon', '-echo', '-isig', '-iexten', '-icrnl', '-ixon', '-opost', 'cs8'])
    assert.ok(raw.includes(flag), flag);
  restoreTerminal(pty.slave, saved);
  assert.equal(stty(pty.slave, '-g'), before);
});

test('raw mode relays bytes unchanged: every byte value written on one side is read on the other', async (t) => {
  const pty = ptyPair(t);
  makeRaw(pty.slave);
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  writeSync(pty.slave, all);
  assert.deepEqual(await readAll(pty.master, all.length), all);
  writeSync(pty.master, all);
  assert.deepEqual(await readAll(pty.slave, all.length), all);
});

/** n bytes read from a non-blocking fd, waiting for them (up to 5 s). */
async function readAll(fd: number, n: number): Promise<Buffer> {
  const buf = Buffer.alloc(n);
  let got = 0;
  for (const deadline = Date.now() + 5_000; got < n && Date.now() < deadline; ) {
    try {
      got += readSync(fd, buf, got, n - got, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  return buf.subarray(0, got);
}

test("a window size set on the master is the slave's", (t) => {
  const pty = ptyPair(t, 80, 24);
  assert.equal(stty(pty.slave, 'size'), '24 80');
  setWindowSize(pty.master, 40, 132);
  assert.equal(stty(pty.slave, 'size'), '40 132');
});

test('terminal calls on something that is no terminal fail with ENOTTY', (t) => {
  const fd = openSync('/dev/null', 'r');
  t.after(() => closeSync(fd));
  const enotty = (call: string) => (e: Error & { errno: number }) => e.errno === ENOTTY && e.message.startsWith(call);
  assert.throws(() => makeRaw(fd), enotty('tcgetattr'));
  assert.throws(() => setWindowSize(fd, 24, 80), enotty('ioctl(TIOCSWINSZ)'));
  assert.throws(() => openPtyPeer(fd), enotty('ioctl(TIOCGPTPEER)'));
});

test('the peer opened through the master is the slave, read-only and close-on-exec', async (t) => {
  const pty = ptyPair(t);
  makeRaw(pty.slave);
  const peer = openPtyPeer(pty.master);
  t.after(() => closeSync(peer));
  assert.equal(fstatSync(peer).rdev, fstatSync(pty.slave).rdev, 'the same terminal');
  const flags = fdFlags(peer);
  assert.equal(flags & O_ACCMODE, 0, 'read-only');
  assert.equal(flags & O_CLOEXEC, O_CLOEXEC, 'close-on-exec');
  assert.throws(() => writeSync(peer, 'x'), { code: 'EBADF' });
  setNonBlocking(peer);
  writeSync(pty.master, 'typed');
  assert.equal((await readAll(peer, 5)).toString(), 'typed');
  assert.throws(
    () => openPtyPeer(pty.slave),
    (e: Error & { errno: number }) => typeof e.errno === 'number',
    'a slave has no peer to open',
  );
});

test('a non-blocking fd answers a read with EAGAIN instead of waiting', (t) => {
  const fifo = join(tempDir(t), 'fifo');
  const mk = spawnSync('mkfifo', [fifo], { encoding: 'utf8' });
  assert.equal(mk.status, 0, mk.stderr);
  // Read and write (the open does not wait for a writer), and append: a flag F_SETFL could drop.
  const fd = openSync(fifo, constants.O_RDWR | constants.O_APPEND);
  t.after(() => closeSync(fd));
  assert.equal(fdFlags(fd) & O_NONBLOCK, 0, 'blocking to start with');
  setNonBlocking(fd);
  assert.equal(fdFlags(fd) & O_NONBLOCK, O_NONBLOCK);
  assert.throws(() => readSync(fd, Buffer.alloc(1)), { code: 'EAGAIN' });
  assert.equal(fdFlags(fd) & constants.O_APPEND, constants.O_APPEND, 'the other flags are kept');
});
