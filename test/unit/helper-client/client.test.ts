// startHelper's side of the channel, against a stand-in for the helper (a small
// Python program speaking the helper's protocol over the real SEQPACKET socket
// on fd 3): the argv it is given, the fds the "started" message carries, a
// message that breaks the protocol, a helper that ends first, a signal asked
// for before the program starts, and a helper that can't be run. The real
// helper, which needs root and an install, runs in test/integration.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, fstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHelper } from '../../../src/helper-client/client.js';
import { helperArgs } from '../../../src/helper-client/protocol.js';
import { CellshError } from '../../../src/errors.js';

const python = spawnSync('python3', ['-c', 'import socket, os; socket.send_fds; os.pidfd_open'], { encoding: 'utf8' });
const skip = python.status === 0 ? false : 'needs python3 (3.9 or later) for the stand-in helper';

const SESSION = '0123456789ab';
const CONTAINER = 'fedcba987654';

/** A stand-in helper: writes its argv to ARGV_FILE, then does what MODE says on fd 3. */
const STAND_IN = `#!/usr/bin/env python3
import json, os, socket, sys, time, signal
mode, out = os.environ['MODE'], os.environ['ARGV_FILE']
with open(out, 'w') as f: json.dump(sys.argv[1:], f)
ch = socket.socket(fileno=3)
if mode == 'exit-first':
    sys.exit(7)
# The "program": a child that records the signals it gets.
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    for s in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(s, lambda n, _f: (os.write(w, (signal.Signals(n).name + '\\n').encode()), os._exit(0)))
    os.write(w, b'R')
    time.sleep(30)
    os._exit(1)
os.close(w)
assert os.read(r, 1) == b'R'  # the program's handlers are set
pidfd = os.pidfd_open(pid)
fds = [pidfd]
if '--pty' in sys.argv:
    master, slave = os.openpty()
    fds.append(master)
text = 'started ${SESSION} ${CONTAINER} created'
if mode == 'bad-fds':
    fds = fds[:1] + fds
time.sleep(float(os.environ.get('DELAY', '0')))
socket.send_fds(ch, [text.encode()], fds)
os.waitpid(pid, 0)
got = os.read(r, 100).decode().strip()
sys.exit({'SIGHUP': 41, 'SIGTERM': 42}.get(got, 0))
`;

function standIn(t: TestContext, mode: string, delay = 0): { helper: string; argv: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-client-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const helper = join(dir, 'helper');
  writeFileSync(helper, STAND_IN);
  chmodSync(helper, 0o755);
  process.env['MODE'] = mode;
  process.env['ARGV_FILE'] = join(dir, 'argv');
  process.env['DELAY'] = String(delay);
  return { helper, argv: () => JSON.parse(readFileSync(join(dir, 'argv'), 'utf8')) as string[] };
}

test("the helper gets helperArgs' argv, and the started message brings the program's pidfd and the pty master", {
  skip,
}, async (t) => {
  const h = standIn(t, 'ok');
  const pty = { mask: 7, rows: 30, cols: 100 };
  const sets = ['pids=10'];
  const run = await startHelper(h.helper, { verb: 'run', command: 'echo hi' }, ['ignore', 'ignore', 'pipe'], {
    pty,
    sets,
  });
  const started = await run.started;
  assert.ok(started, 'a started message');
  assert.deepEqual(
    [started.session, started.container, started.created, started.agentSocket],
    [SESSION, CONTAINER, true, undefined],
  );
  assert.ok(fstatSync(started.pidfd).isFile() === false && started.master !== undefined, 'a pidfd and a master');
  assert.ok(fstatSync(started.master).isCharacterDevice(), "the master is the pty's");
  run.kill('SIGTERM');
  assert.equal(await run.exited, 42, 'SIGTERM reached the program through the pidfd');
  assert.deepEqual(h.argv(), helperArgs({ verb: 'run', command: 'echo hi' }, pty, false, sets));
});

test('a hang-up asked for before the program starts reaches it once it does', { skip }, async (t) => {
  const h = standIn(t, 'ok', 0.3);
  const run = await startHelper(h.helper, { verb: 'login' }, ['ignore', 'ignore', 'pipe']);
  run.kill('SIGHUP');
  assert.ok(await run.started);
  assert.equal(await run.exited, 41, 'the program got SIGHUP');
});

test('a started message with fds the request did not ask for is refused, and its fds closed', { skip }, async (t) => {
  const h = standIn(t, 'bad-fds');
  const run = await startHelper(h.helper, { verb: 'login' }, ['ignore', 'ignore', 'pipe']);
  await assert.rejects(run.started, (err: unknown) => err instanceof CellshError && err.code === 'helper-protocol');
  run.child.kill('SIGKILL');
  await run.exited;
});

test('a helper that ends before the program starts: started is undefined and its status is kept', {
  skip,
}, async (t) => {
  const h = standIn(t, 'exit-first');
  const run = await startHelper(h.helper, { verb: 'login' }, ['ignore', 'ignore', 'pipe']);
  assert.equal(await run.started, undefined);
  assert.equal(await run.exited, 7);
});

test("a helper that can't be run is a plain error with what to do, exit 78", async () => {
  const run = await startHelper('/nonexistent/cellsh-helper', { verb: 'login' }, ['ignore', 'ignore', 'pipe']);
  await assert.rejects(
    run.exited,
    (err: unknown) =>
      err instanceof CellshError &&
      err.code === 'helper-unavailable' &&
      err.exitCode === 78 &&
      /cellsh-admin doctor/.test(err.hint ?? ''),
  );
  assert.equal(await run.started, undefined);
});
