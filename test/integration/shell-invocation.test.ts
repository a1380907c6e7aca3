// Invoked like a real shell. A login ("-" argv[0], -l, or no
// args) gets a pty-backed login shell with the profile read; -c runs the
// command with separate, byte-exact stdout and stderr, stdin passed through
// and the command's exit status (128+N after signal N); nothing extra on stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { createUser, su } from '../helpers/users.js';
import { runAsync } from '../helpers/system.js';
import { cellshCommand, interactiveLogin, promptOf, runTyped } from '../helpers/session.js';
import { Terminal } from '../helpers/terminal.js';

const inst = testInstall();
const skip = skipReason(inst);

test('a login through su - gets a pty-backed login shell that read the profile', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p3-login');
  mustApply(inst!);
  appendFileSync(`${user.home}/.profile`, 'export CELLSH_T_PROFILE=was-read\n');
  const term = await interactiveLogin(user);
  t.after(() => term.kill());
  assert.equal(
    (await runTyped(term, user, 'echo $CELLSH_T_PROFILE; shopt -q login_shell && echo login-shell'))
      .trim()
      .split(/\r?\n/)
      .map((l) => l.trim())
      .join(' '),
    'was-read login-shell',
  );
  assert.match(await runTyped(term, user, 'tty'), /^\/dev\/pts\/\d+/);
  await term.type('exit\r');
  assert.equal((await term.exited).exitCode, 0);
});

test('-l and no arguments are login shells too', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p3-dashl');
  mustApply(inst!);
  for (const args of [['-l'], []]) {
    const term = Terminal.spawn('setpriv', [
      '--reuid',
      String(user.uid),
      '--regid',
      String(user.gid),
      '--init-groups',
      '--',
      inst!.launcher,
      ...args,
    ]);
    t.after(() => term.kill());
    await term.expect(promptOf(user));
    assert.match(await runTyped(term, user, 'shopt -q login_shell && echo is-login'), /is-login/);
    await term.type('exit 3\r');
    assert.equal((await term.exited).exitCode, 3);
  }
});

test('-c keeps stdout and stderr apart and byte-exact, passes stdin through, adds nothing', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p3-bytes');
  mustApply(inst!);
  const input = randomBytes(3 * 1024 * 1024 + 7); // every byte value, not a multiple of any buffer size
  const r = await cellshCommand(inst!, user, 'cat; printf "to-stderr\\0\\377" >&2', {
    input: input as unknown as string,
  });
  assert.equal(r.status, 0, r.err);
  assert.ok(r.stdout.equals(input), `stdout differs: ${r.stdout.length} bytes for ${input.length}`);
  assert.ok(r.stderr.equals(Buffer.from('to-stderr\0\xff', 'latin1')), JSON.stringify(r.err));
  const quiet = await cellshCommand(inst!, user, 'true');
  assert.equal(quiet.stdout.length, 0, 'no banner or log line on stdout');
  assert.equal(quiet.stderr.length, 0, 'nothing on stderr either');
  const eof = await cellshCommand(inst!, user, 'wc -c', { input: 'x'.repeat(100_000) });
  assert.equal(eof.out.trim(), '100000', 'stdin EOF reaches the command');
});

test("-c returns the command's exit status, and 128+N when it dies of signal N", { skip }, async (t) => {
  const user = createUser(t, inst!, 'p3-status');
  mustApply(inst!);
  const cases: Array<[string, number]> = [
    ['true', 0],
    ['exit 42', 42],
    ['kill -TERM $$', 143],
    ['kill -KILL $$', 137],
    ['nosuchcommand-xyz', 127],
  ];
  for (const [cmd, want] of cases) {
    assert.equal((await cellshCommand(inst!, user, cmd)).status, want, cmd);
  }
  // And through su, as from a terminal-less script.
  assert.equal((await su(user, 'exit 9')).status, 9);
});

test('-c from a terminal runs with a terminal inside, and bad arguments get a plain usage error', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'p3-ttyc');
  mustApply(inst!);
  const term = Terminal.spawn('su', ['-', user.name, '-c', 'tty; exit 6']);
  t.after(() => term.kill());
  await term.expect(/\/dev\/pts\/\d+/);
  assert.equal((await term.exited).exitCode, 6);
  const bad = await runAsync('setpriv', [
    '--reuid',
    String(user.uid),
    '--regid',
    String(user.gid),
    '--init-groups',
    '--',
    inst!.launcher,
    '--bogus',
  ]);
  assert.equal(bad.status, 64);
  assert.equal(bad.err, 'cellsh: unexpected argument "--bogus"\ncellsh: usage: cellsh [-l] [-c COMMAND]\n');
});
