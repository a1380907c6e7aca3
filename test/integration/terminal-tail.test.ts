// Correctness under speed: every byte a program writes through the terminal
// relay before it exits reaches the outer terminal. node-pty is known to drop
// the tail when the child exits (microsoft/node-pty#72); cellsh's relay reads
// the inner pty until EIO instead. The outer terminal here is a plain Python
// pty reader (test/harness/outer-pty.py), so only cellsh's relay is judged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { createUser } from '../helpers/users.js';
import { runAsync } from '../helpers/system.js';
import { packageRoot } from '../helpers/fixtures.js';

const inst = testInstall();
const skip = skipReason(inst);
const outerPty = join(packageRoot(), 'test', 'harness', 'outer-pty.py');

/** Bytes equal to b in buf. */
function countByte(buf: Buffer, b: number): number {
  let n = 0;
  for (const x of buf) if (x === b) n++;
  return n;
}

test('terminal: the last bytes a program writes right before it exits all arrive (node-pty#72)', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'tail');
  mustApply(inst!);
  // 4 MiB written in one go, then _exit: no flush at exit, no grace period.
  const size = 4 << 20;
  const writer = `python3 -c 'import os, sys; sys.stdout.buffer.write(b"x" * ${size}); sys.stdout.flush(); os._exit(3)'`;
  for (let round = 0; round < 3; round++) {
    const r = await runAsync('python3', [outerPty, 'su', '-', user.name, '-c', writer], { timeout: 120_000 });
    assert.equal(r.status, 3, `round ${round}: the program's status comes back (${r.err})`);
    assert.equal(countByte(r.stdout, 0x78), size, `round ${round}: every byte arrived`);
  }
  // A line that ends the output exactly at exit, after a burst.
  const last = await runAsync('python3', [outerPty, 'su', '-', user.name, '-c', 'seq 1 200000; printf LAST-LINE'], {
    timeout: 60_000,
  });
  assert.match(last.out, /\r\n200000\r\nLAST-LINE$/);
});
