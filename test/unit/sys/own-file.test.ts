// Reading a file below a user's home the way the host side must: with real
// files in a temporary home, each trick a user could play from inside their
// container is refused, promptly, without the content of what it points at.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  closeSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../helpers/fixtures.js';
import { checkOwnFile, OWN_FILE_MAX_BYTES, readChecked, readOwnFile } from '../../../src/sys/own-file.js';

/** The uid the files belong to (no account needed: only numbers are compared). */
const UID = 4242;
const FILE = '.config/cellsh.yaml';
const SECRET = 'hostreads-secret-7f3a';
const MAX = OWN_FILE_MAX_BYTES;
const ROOT_ONLY = process.getuid?.() === 0 ? false : 'needs root: the files must belong to another uid';

/** A home owned by UID with an empty .config of UID's; removed after the test. */
function home(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-t-own-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  chownSync(dir, UID, UID);
  mkdirSync(join(dir, '.config'));
  chownSync(join(dir, '.config'), UID, UID);
  return dir;
}

/** A file of UID's with the given text. */
function fileOf(path: string, text: string, uid = UID): void {
  writeFileSync(path, text);
  chownSync(path, uid, uid);
}

/** Somewhere the user must not read through the host side: another user's secret. */
function secretElsewhere(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-t-other-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  fileOf(join(dir, 'secret'), `${SECRET}\n`, UID + 1);
  return dir;
}

function refusedWith(result: unknown, path: string, why: string | RegExp): void {
  assert.ok(!JSON.stringify(result).includes(SECRET), 'nothing of the target comes back');
  assert.equal((result as { kind: string }).kind, 'refused', JSON.stringify(result));
  const r = result as { path: string; why: string };
  assert.equal(r.path, path);
  if (typeof why === 'string') assert.equal(r.why, why);
  else assert.match(r.why, why);
}

/** What fn returns, and how many bytes this thread read(2) meanwhile (the
 * kernel's count in /proc/thread-self/io, less the read of that file itself). */
function bytesReadBy<T>(fn: () => T): { result: T; bytes: number } {
  const rchar = (text: string): number => Number(/^rchar: (\d+)$/m.exec(text)![1]);
  const before = readFileSync('/proc/thread-self/io', 'utf8');
  const result = fn();
  const after = readFileSync('/proc/thread-self/io', 'utf8');
  return { result, bytes: rchar(after) - rchar(before) - before.length };
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

test("a regular file of the user's is read", { skip: ROOT_ONLY }, (t) => {
  const h = home(t);
  fileOf(join(h, FILE), 'hostname: box\n');
  assert.deepEqual(readOwnFile(h, FILE, UID), { kind: 'text', text: 'hostname: box\n' });
});

test('no file, or no .config, is no file, said by nothing', { skip: ROOT_ONLY }, (t) => {
  const h = home(t);
  assert.deepEqual(readOwnFile(h, FILE, UID), { kind: 'none' });
  rmSync(join(h, '.config'), { recursive: true });
  assert.deepEqual(readOwnFile(h, FILE, UID), { kind: 'none' });
  assert.deepEqual(readOwnFile(join(h, 'no-such-home'), FILE, UID), { kind: 'none' });
});

test('a symbolic link as the file is not followed', { skip: ROOT_ONLY }, (t) => {
  const h = home(t);
  symlinkSync(join(secretElsewhere(t), 'secret'), join(h, FILE));
  refusedWith(readOwnFile(h, FILE, UID), FILE, 'is a symbolic link');
  // Not even to a file of the user's own.
  fileOf(join(h, 'mine.yaml'), 'hostname: box\n');
  rmSync(join(h, FILE));
  symlinkSync('../mine.yaml', join(h, FILE));
  refusedWith(readOwnFile(h, FILE, UID), FILE, 'is a symbolic link');
});

test('a symbolic link as a folder on the way is not followed', { skip: ROOT_ONLY }, (t) => {
  const h = home(t);
  const other = secretElsewhere(t);
  fileOf(join(other, 'cellsh.yaml'), `hostname: ${SECRET}\n`); // even a file of the user's uid
  rmSync(join(h, '.config'), { recursive: true });
  symlinkSync(other, join(h, '.config'));
  refusedWith(readOwnFile(h, FILE, UID), '.config', 'is a symbolic link');
});

test('a hard link is refused: it could name a file the container does not show', { skip: ROOT_ONLY }, (t) => {
  const h = home(t);
  const other = secretElsewhere(t);
  fileOf(join(other, 'mine'), `${SECRET}\n`); // the user's, but outside what the container shows
  linkSync(join(other, 'mine'), join(h, FILE));
  refusedWith(readOwnFile(h, FILE, UID), FILE, 'has 2 hard links');
});

test('a FIFO is refused at once, never opened for reading', { skip: ROOT_ONLY, timeout: 10_000 }, (t) => {
  const h = home(t);
  sh('mkfifo', [join(h, FILE)]);
  chownSync(join(h, FILE), UID, UID);
  const started = Date.now();
  refusedWith(readOwnFile(h, FILE, UID), FILE, 'is not a regular file (a FIFO)');
  assert.ok(Date.now() - started < 1000, 'returns promptly');
});

test('a UNIX socket is refused', { skip: ROOT_ONLY }, async (t) => {
  const h = home(t);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(h, FILE), resolve));
  t.after(() => server.close());
  chownSync(join(h, FILE), UID, UID);
  refusedWith(readOwnFile(h, FILE, UID), FILE, 'is not a regular file (a socket)');
});

test('a device node (like /dev/zero) is refused, never opened', { skip: ROOT_ONLY, timeout: 10_000 }, (t) => {
  const h = home(t);
  sh('mknod', [join(h, FILE), 'c', '1', '5']);
  chownSync(join(h, FILE), UID, UID);
  refusedWith(readOwnFile(h, FILE, UID), FILE, 'is not a regular file (a character device)');
});

test('a folder is refused', { skip: ROOT_ONLY }, (t) => {
  const h = home(t);
  mkdirSync(join(h, FILE));
  chownSync(join(h, FILE), UID, UID);
  refusedWith(readOwnFile(h, FILE, UID), FILE, 'is not a regular file (a folder)');
});

test('a file of another uid is refused', { skip: ROOT_ONLY }, (t) => {
  const h = home(t);
  fileOf(join(h, FILE), `${SECRET}\n`, 0);
  refusedWith(readOwnFile(h, FILE, UID), FILE, 'belongs to uid 0, not you');
});

test('a sparse 10 GiB file is refused without being read', { skip: ROOT_ONLY, timeout: 10_000 }, (t) => {
  const h = home(t);
  fileOf(join(h, FILE), '');
  truncateSync(join(h, FILE), 10 * 2 ** 30);
  const { result, bytes } = bytesReadBy(() => readOwnFile(h, FILE, UID));
  refusedWith(result, FILE, 'is larger than 64 KiB');
  assert.equal(bytes, 0, 'not a byte of it read');
});

test('a file that grows past the bound after the check is refused', { skip: ROOT_ONLY }, (t) => {
  const h = home(t);
  fileOf(join(h, FILE), 'hostname: box\n');
  const checked = checkOwnFile(h, FILE, UID);
  assert.equal(checked.kind, 'checked');
  if (checked.kind !== 'checked') return;
  t.after(() => checked.close());
  appendFileSync(join(h, FILE), Buffer.alloc(4 * MAX, 'x'));
  truncateSync(join(h, FILE), 2 ** 30); // and then to 1 GiB
  const { result, bytes } = bytesReadBy(() => readChecked(checked));
  refusedWith(result, FILE, 'is larger than 64 KiB');
  assert.equal(bytes, MAX + 1, 'one byte past the bound is read, no more');
});

test('while a writer appends in a loop, a read gives at most the bound, else refuses', {
  skip: ROOT_ONLY,
  timeout: 30_000,
}, async (t) => {
  const h = home(t);
  const path = join(h, FILE);
  fileOf(path, '');
  // 1 KiB a round and a short sleep: the file passes the bound within a second or so.
  const writer = spawn('/bin/sh', ['-c', 'while :; do printf "%01023d\\n" 0 >> "$1"; sleep 0.001; done', 'sh', path], {
    stdio: 'ignore',
  });
  t.after(() => writer.kill('SIGKILL'));
  let texts = 0;
  let refusals = 0;
  for (const deadline = Date.now() + 20_000; refusals < 20 && Date.now() < deadline; ) {
    const { result: r, bytes } = bytesReadBy(() => readOwnFile(h, FILE, UID));
    assert.ok(bytes <= MAX + 1, `${bytes} bytes read`);
    if (r.kind === 'text') {
      assert.ok(Buffer.byteLength(r.text) <= MAX, `read ${Buffer.byteLength(r.text)} bytes`);
      texts++;
    } else {
      refusedWith(r, FILE, 'is larger than 64 KiB');
      refusals++;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.ok(refusals >= 20, `read ${texts} times, refused ${refusals} times`);
  t.diagnostic(`read ${texts} times while it grew`);
});

test('a file swapped for a link between the check and the read: the checked file is read', { skip: ROOT_ONLY }, (t) => {
  const h = home(t);
  const secret = join(secretElsewhere(t), 'secret');
  fileOf(join(h, FILE), 'hostname: box\n');
  const checked = checkOwnFile(h, FILE, UID);
  assert.equal(checked.kind, 'checked');
  if (checked.kind !== 'checked') return;
  t.after(() => checked.close());
  symlinkSync(secret, join(h, '.config', 'swap'));
  renameSync(join(h, '.config', 'swap'), join(h, FILE)); // atomically: the name now is the link
  assert.deepEqual(readChecked(checked), { kind: 'text', text: 'hostname: box\n' });
});

test("a file of the user's they may not read (mode 000) is refused with the reason", { skip: ROOT_ONLY }, (t) => {
  const h = home(t);
  fileOf(join(h, FILE), `${SECRET}\n`);
  chmodSync(join(h, FILE), 0o000);
  // Root reads any mode: the check runs in a child with the user's ids.
  const mod = join(packageRoot(), 'dist', 'src', 'sys', 'own-file.js');
  const script = `process.stdout.write(JSON.stringify(require(${JSON.stringify(mod)}).readOwnFile(${JSON.stringify(h)}, ${JSON.stringify(FILE)}, ${UID})))`;
  const r = spawnSync(
    '/usr/bin/setpriv',
    ['--reuid', String(UID), '--regid', String(UID), '--clear-groups', '--', process.execPath, '-e', script],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  refusedWith(JSON.parse(r.stdout), FILE, "can't be read (EACCES)");
});

test('a file descriptor is not left open, whatever the outcome', { skip: ROOT_ONLY }, (t) => {
  const h = home(t);
  fileOf(join(h, FILE), 'hostname: box\n');
  const before = openSync('/dev/null', 'r');
  closeSync(before);
  for (let i = 0; i < 3; i++) readOwnFile(h, FILE, UID);
  rmSync(join(h, FILE));
  symlinkSync('/dev/zero', join(h, FILE));
  for (let i = 0; i < 3; i++) readOwnFile(h, FILE, UID);
  const after = openSync('/dev/null', 'r');
  closeSync(after);
  assert.equal(after, before, 'the lowest free fd is the same as before');
});
