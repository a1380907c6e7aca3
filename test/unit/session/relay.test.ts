// The terminal relay between two real ptys. The relay frames nothing: bytes
// pass as they are, in whatever pieces the ptys hand out; the window size
// travels by ioctl (TIOCSWINSZ on the inner master); the end of the program is
// told by the caller (finish()), not by a message. So the tests check what
// crosses, and when: every byte value both ways, bulk output whole and in
// order, the last bytes before the program ends, output after it (from another
// process, a pause of this one not taken for quiet; two seconds of it at
// most), the window size at start and on resize, the outer terminal raw while
// relaying and restored after, a hang-up passed on, and typing held back while
// the program does not read.
//
// The outer terminal is a pty whose slave is the relay's stdin and stdout, as
// sshd's would be; the test types into its master and reads the screen from it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { constants, closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadStream, WriteStream } from 'node:tty';
import { makeRaw, setWindowSize } from '../../../src/sys/libc.js';
import { TerminalRelay } from '../../../src/session/relay.js';
import { ptyPair, readUntilQuiet, type PtyPair } from '../../helpers/pty-pair.js';
import { waitFor } from '../../helpers/system.js';

/** The relay's upper bound on waiting for output after the program ended (relay.ts's DRAIN_MAX_MS). */
const DRAIN_MAX_MS = 2000;

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-t-relay-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The outer terminal: the relay's ends, a keyboard and the screen. */
interface Outer {
  readonly pty: PtyPair;
  readonly input: ReadStream;
  readonly output: WriteStream;
  /** Type bytes (the master takes them at once, or says EAGAIN). */
  type(bytes: string | Buffer): void;
  /** Everything shown so far. */
  screen(): Buffer;
  /** The terminal emulator goes away: the outer pty hangs up. */
  hangUp(): Promise<void>;
}

/** The screen's copier: reads the master (fd 3) and appends what it shows to stdout (a file). */
const COPIER = `const fs = require('fs');
const t = new (require('tty').ReadStream)(3);
t.on('data', (d) => fs.writeSync(1, d)).on('error', () => process.exit(0)).on('end', () => process.exit(0));
process.send('ready');`;

/** What the outer master shows, read in this process: only for output that fits in
 * the outer pty (Node writes to a terminal blocking, so a relay writing more would
 * wait for ever on a reader in its own process). */
function screenHere(pty: PtyPair): { screen(): Buffer; close(): Promise<void> } {
  const chunks: Buffer[] = [];
  const stream = new ReadStream(pty.master);
  pty.giveAway('master');
  stream.on('data', (d: Buffer) => chunks.push(d)).on('error', () => undefined);
  const closed = new Promise((resolve) => stream.once('close', resolve));
  return {
    screen: () => Buffer.concat(chunks),
    close: async () => {
      stream.destroy();
      await closed;
    },
  };
}

/** What the outer master shows, copied to a file by a child process (a terminal
 * emulator of sorts): for bulk output. */
async function screenElsewhere(t: TestContext, pty: PtyPair): Promise<{ screen(): Buffer; close(): Promise<void> }> {
  const screenFile = join(tempDir(t), 'screen');
  const screenFd = openSync(screenFile, 'w+');
  t.after(() => closeSync(screenFd));
  const copier = spawn(process.execPath, ['-e', COPIER], { stdio: ['ignore', screenFd, 'inherit', pty.master, 'ipc'] });
  const gone = new Promise((resolve) => copier.once('exit', resolve));
  const close = async (): Promise<void> => {
    copier.kill('SIGKILL');
    await gone;
    pty.close('master');
  };
  t.after(close);
  await new Promise((resolve) => copier.once('message', resolve));
  copier.disconnect();
  return { screen: () => readFileSync(screenFile), close };
}

async function outerTerminal(t: TestContext, opts: { bulk?: boolean } = {}): Promise<Outer> {
  const pty = ptyPair(t, 100, 30);
  // stdout on an fd of its own, as a login's fds 0 and 1 are (Node reopens a terminal per stream).
  const output = new WriteStream(openSync(pty.path, constants.O_RDWR | constants.O_NOCTTY));
  const input = new ReadStream(pty.slave);
  pty.giveAway('slave');
  const shown = opts.bulk ? await screenElsewhere(t, pty) : screenHere(pty);
  t.after(async () => {
    input.destroy();
    output.destroy();
    await shown.close();
  });
  return {
    pty,
    input,
    output,
    type: (bytes) => writeSync(pty.master, typeof bytes === 'string' ? Buffer.from(bytes) : bytes),
    screen: shown.screen,
    hangUp: shown.close,
  };
}

/** The program's side: the inner pty's slave, raw as a full-screen program would set it. */
interface Inner {
  readonly pty: PtyPair;
  /** Write as the program (the slave takes it at once, or says EAGAIN). */
  write(bytes: string | Buffer): void;
  /** What reached the program, read until nothing more comes for quietMs. */
  read(quietMs?: number): Promise<Buffer>;
}

function innerTerminal(t: TestContext): Inner {
  const pty = ptyPair(t, 80, 24);
  makeRaw(pty.slave);
  pty.giveAway('master'); // the relay closes it
  return {
    pty,
    write: (bytes) => writeSync(pty.slave, typeof bytes === 'string' ? Buffer.from(bytes) : bytes),
    read: (quietMs = 100) => readUntilQuiet(pty.slave, quietMs),
  };
}

/** A started relay between an outer and an inner terminal, disposed after the test. */
async function relayed(
  t: TestContext,
  opts: { bulk?: boolean } = {},
): Promise<{ outer: Outer; inner: Inner; relay: TerminalRelay }> {
  const outer = await outerTerminal(t, opts);
  const inner = innerTerminal(t);
  const relay = new TerminalRelay({
    master: inner.pty.master,
    input: outer.input,
    output: outer.output,
    terminalFd: outer.pty.slave,
  });
  t.after(() => relay.dispose());
  relay.start();
  return { outer, inner, relay };
}

/** Wait until the screen shows n bytes (or more), then return it. */
function screenOf(outer: Outer, n: number, timeoutMs = 10_000): Promise<Buffer> {
  return waitFor(
    `${n} bytes on the screen`,
    () => {
      const s = outer.screen();
      return s.length >= n ? s : undefined;
    },
    timeoutMs,
  );
}

/** n bytes that show where any of them came from: a counter, one line per 8 bytes. */
function pattern(n: number): Buffer {
  return Buffer.from(
    Array.from({ length: Math.ceil(n / 8) }, (_, i) => `${String(i).padStart(7, '0')}\n`).join(''),
  ).subarray(0, n);
}

const EVERY_BYTE = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

test('what the program writes reaches the outer terminal unchanged, every byte value', async (t) => {
  const { outer, inner } = await relayed(t);
  const sent = Buffer.concat([EVERY_BYTE, Buffer.from('line\n'), EVERY_BYTE]);
  inner.write(sent);
  const shown = await screenOf(outer, sent.length);
  assert.ok(shown.equals(sent), `shown: ${JSON.stringify(shown.toString('latin1'))}`);
});

test('what is typed reaches the program unchanged, control keys included', async (t) => {
  const { outer, inner } = await relayed(t);
  // Enter, ^C, ^D, ^Z, ^S, ^\, erase and an escape sequence: a cooked outer terminal would act on each.
  const keys = Buffer.concat([Buffer.from('ls -l\r\x03\x04\x1a\x13\x1c\x7f\x1b[A'), EVERY_BYTE]);
  outer.type(keys);
  const got = await inner.read();
  assert.ok(got.equals(keys), `got: ${JSON.stringify(got.toString('latin1'))}`);
});

test('bulk output (a MiB, many reads and batches) arrives whole and in order', { timeout: 60_000 }, async (t) => {
  const { outer, inner, relay } = await relayed(t, { bulk: true });
  const size = 1 << 20;
  // The program: another process writing to its terminal as fast as the pty takes it.
  const program = spawn(
    process.execPath,
    [
      '-e',
      `process.stdout.write(Buffer.from(Array.from({ length: ${size / 8} }, (_, i) => String(i).padStart(7, '0') + '\\n').join('')))`,
    ],
    { stdio: ['ignore', inner.pty.slave, 'inherit'] },
  );
  const status = await new Promise((resolve) => program.once('exit', resolve));
  assert.equal(status, 0);
  await relay.finish();
  const shown = await screenOf(outer, size);
  assert.equal(shown.length, size);
  assert.ok(shown.equals(pattern(size)), 'in order, nothing lost or doubled');
});

test("the program's last bytes before it ends all arrive, and finish() returns soon after", async (t) => {
  const { outer, inner, relay } = await relayed(t);
  const last = Buffer.concat([pattern(6000), Buffer.from('LAST')]);
  inner.write(last);
  inner.pty.close('slave'); // the program is gone; its bytes are still in the pty
  const started = Date.now();
  await relay.finish();
  assert.ok(Date.now() - started < 1000, `finish() took ${Date.now() - started} ms`);
  const shown = await screenOf(outer, last.length);
  assert.ok(shown.equals(last));
});

test('finish() stops waiting for output that never ends after two seconds', { timeout: 20_000 }, async (t) => {
  const { inner, relay } = await relayed(t);
  const job = setInterval(() => {
    try {
      inner.write('more\n');
    } catch {
      // the relay is gone, the pty hung up
    }
  }, 5);
  t.after(() => clearInterval(job));
  const started = Date.now();
  await relay.finish();
  const took = Date.now() - started;
  // (Not a lower bound: on a busy host the job itself may pause long enough to look quiet.)
  assert.ok(took < DRAIN_MAX_MS + 1000, `finish() took ${took} ms`);
});

/** A background job: another process writing 150 lines to its terminal (stdout),
 * one every 2 ms, and each with the time it wrote it to fd 3 too. */
const JOB = `const fs = require('fs');
let i = 0;
const job = setInterval(() => {
  const line = 'job ' + i++ + ' at ' + Date.now() + '\\n';
  process.stdout.write(line);
  fs.writeSync(3, line);
  if (i === 150) clearInterval(job);
}, 2);`;

test("a pause of the relay's own process does not count as quiet while the program's terminal holds output", {
  timeout: 20_000,
}, async (t) => {
  const { outer, inner, relay } = await relayed(t);
  const logFile = join(tempDir(t), 'job.log');
  const logFd = openSync(logFile, 'w');
  t.after(() => closeSync(logFd));
  const job = spawn(process.execPath, ['-e', JOB], { stdio: ['ignore', inner.pty.slave, 'inherit', logFd] });
  const jobDone = new Promise((resolve) => job.once('exit', resolve));
  t.after(async () => {
    job.kill('SIGKILL');
    await jobDone;
  });
  await waitFor('the job to write', () => outer.screen().includes('job 0 '));
  // The program ends, and this process pauses (a long garbage collection, a busy host)
  // in a timer that runs on the same turn of the event loop as the one finish() waits
  // on, so that one runs next, before what the job wrote meanwhile is delivered. (Both
  // are set in a setImmediate, and due by the time the event loop next runs timers.)
  let pauseEnded = 0;
  let finishing: Promise<void> | undefined;
  await new Promise<void>((resolve) =>
    setImmediate(() => {
      finishing = relay.finish();
      setTimeout(() => {
        pauseThisProcess(100); // five times the quiet time the relay waits for
        pauseEnded = Date.now();
      }, 1);
      pauseThisProcess(10);
      resolve();
    }),
  );
  await finishing;
  const writtenInPause = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '' && Number(l.split(' at ')[1]) <= pauseEnded);
  const shown = outer.screen().toString();
  assert.ok(writtenInPause.length > 0, 'the job wrote while this process was paused');
  const missing = writtenInPause.filter((l) => !shown.includes(`${l}\n`));
  assert.deepEqual(missing, [], 'what the job wrote before the pause ended is relayed');
});

/** Keep this process from running, as a long garbage collection or a busy host would. */
function pauseThisProcess(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The window size the program sees. */
function innerSize(inner: Inner): string {
  const r = spawnSync('stty', ['size'], { stdio: [inner.pty.slave, 'pipe', 'pipe'], encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test("the program's window size is the outer terminal's: at start, and after each resize", async (t) => {
  const { outer, inner } = await relayed(t);
  assert.equal(innerSize(inner), '30 100', 'the outer terminal is 100x30');
  // As a terminal emulator resizes: the outer pty's size, then SIGWINCH, on which Node
  // refreshes its stdout's size (lib/tty.js's _refreshSize), which emits "resize".
  setWindowSize(outer.pty.master, 50, 160);
  (outer.output as unknown as { _refreshSize(): void })._refreshSize();
  assert.equal(innerSize(inner), '50 160');
  setWindowSize(outer.pty.master, 0, 0); // a terminal that tells no size
  (outer.output as unknown as { _refreshSize(): void })._refreshSize();
  assert.equal(innerSize(inner), '50 160', 'no size is not passed on');
});

/** An outer terminal setting, as stty prints it. */
function outerStty(outer: Outer, arg: '-g' | '-a'): string {
  const r = spawnSync('stty', [arg], { stdio: [outer.pty.slave, 'pipe', 'pipe'], encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('the outer terminal is raw while relaying, and as it was once the relay is disposed', async (t) => {
  const outer = await outerTerminal(t);
  const inner = innerTerminal(t);
  const before = outerStty(outer, '-g');
  const relay = new TerminalRelay({
    master: inner.pty.master,
    input: outer.input,
    output: outer.output,
    terminalFd: outer.pty.slave,
  });
  t.after(() => relay.dispose());
  assert.equal(outerStty(outer, '-g'), before, 'untouched until start()');
  relay.start();
  const raw = outerStty(outer, '-a').split(/\s+/);
  for (const flag of ['-icanon', '-echo', '-isig', '-icrnl', '-opost']) assert.ok(raw.includes(flag), flag);
  relay.dispose();
  assert.equal(outerStty(outer, '-g'), before);
  relay.dispose();
  assert.equal(outerStty(outer, '-g'), before, 'a second dispose() changes nothing');
});

test("when the outer terminal hangs up, the program's terminal is hung up", async (t) => {
  const { outer, inner } = await relayed(t);
  inner.write('hello');
  await screenOf(outer, 5);
  await outer.hangUp();
  // The relay closed the master: the program's reads end (EOF or EIO) instead of
  // waiting (EAGAIN). (Reads only: a write would reach the relay's output side.)
  await waitFor(
    "the program's terminal to hang up",
    () => {
      try {
        return readSync(inner.pty.slave, Buffer.alloc(16)) === 0;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN') return code === 'EIO';
        return false;
      }
    },
    5_000,
  );
});

test('a program that does not read holds the typing back, instead of the relay buffering it without end', {
  timeout: 30_000,
}, async (t) => {
  const { outer, inner } = await relayed(t);
  // Type as fast as the outer terminal takes it (16 MiB at most) while the program reads
  // nothing, until the outer terminal has taken nothing for 300 ms. (The relay runs
  // outside the container: what it buffers counts against no limit of the user's.)
  const chunk = pattern(64 * 1024);
  let typed = 0;
  for (let lastTaken = Date.now(); typed < 16 << 20 && Date.now() - lastTaken < 300; ) {
    try {
      typed += writeSync(outer.pty.master, chunk, typed % chunk.length, chunk.length - (typed % chunk.length));
      lastTaken = Date.now();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.diagnostic(`${typed} bytes typed before the outer terminal took no more`);
  assert.ok(typed < 1 << 20, `typing is held back within 1 MiB, not after ${typed} bytes`);
  // The program reads now: everything typed arrives, in order.
  const got = await inner.read(300);
  assert.equal(got.length, typed);
  assert.ok(
    got.equals(Buffer.concat(Array.from({ length: Math.ceil(typed / chunk.length) }, () => chunk)).subarray(0, typed)),
  );
});
