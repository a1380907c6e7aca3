// The relay's writer into the inner pty's master, on a real pty whose slave the
// test reads as the program would: order kept across writes, what the pty can't
// take yet queued (not lost, not blocking) and said so, with a drain once it is
// through, nothing more after close(), and a failure other than a full pty
// reported once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { makeRaw } from '../../../src/sys/libc.js';
import { PtyWriter } from '../../../src/session/pty-writer.js';
import { ptyPair, readUntilQuiet } from '../../helpers/pty-pair.js';

/** n bytes that show where any of them came from: a counter, one line per 8 bytes. */
function pattern(n: number, from = 0): Buffer {
  const lines = Array.from({ length: Math.ceil(n / 8) }, (_, i) => `${String(from + i).padStart(7, '0')}\n`);
  return Buffer.from(lines.join('')).subarray(0, n);
}

function noErrors(): { onError: (e: NodeJS.ErrnoException) => void; errors: NodeJS.ErrnoException[] } {
  const errors: NodeJS.ErrnoException[] = [];
  return { onError: (e) => errors.push(e), errors };
}

test('many small writes reach the program in the order they were made', async (t) => {
  const pty = ptyPair(t);
  makeRaw(pty.slave);
  const { onError, errors } = noErrors();
  const writer = new PtyWriter(pty.master, onError);
  const keys = Array.from({ length: 500 }, (_, i) => Buffer.from(`k${i};`));
  for (const k of keys) writer.write(k);
  assert.equal((await readUntilQuiet(pty.slave, 150)).toString(), Buffer.concat(keys).toString());
  assert.deepEqual(errors, []);
});

test("what the pty can't take yet is queued without waiting, and arrives whole once the program reads", async (t) => {
  const pty = ptyPair(t);
  makeRaw(pty.slave);
  const { onError, errors } = noErrors();
  const writer = new PtyWriter(pty.master, onError);
  // Four writes of 64 KiB each, far more than a pty holds (a few KiB).
  const parts = [0, 1, 2, 3].map((i) => pattern(64 * 1024, i * 8 * 1024));
  const started = Date.now();
  for (const p of parts) writer.write(p);
  assert.ok(Date.now() - started < 500, 'write() returned without waiting for the program');
  // The program reads only now.
  const got = await readUntilQuiet(pty.slave, 300);
  assert.equal(got.length, 256 * 1024, 'every byte arrived');
  assert.ok(got.equals(Buffer.concat(parts)), 'in order');
  assert.deepEqual(errors, []);
});

test('write() says when bytes must wait for the program, and onDrain comes once they are all through', async (t) => {
  const pty = ptyPair(t);
  makeRaw(pty.slave);
  let drains = 0;
  const writer = new PtyWriter(pty.master, noErrors().onError, () => drains++);
  assert.equal(writer.write(Buffer.from('k')), true, 'a keystroke goes straight in');
  assert.equal(writer.write(pattern(64 * 1024)), false, 'more than the pty holds must wait');
  assert.equal(writer.write(Buffer.from('after')), false, 'and so must what comes after it');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(drains, 0, 'no drain while the program does not read');
  const got = await readUntilQuiet(pty.slave, 150);
  assert.equal(got.toString(), `k${pattern(64 * 1024).toString()}after`);
  assert.equal(drains, 1);
  assert.equal(writer.write(Buffer.from('k')), true);
  writer.write(pattern(64 * 1024));
  writer.close();
  await readUntilQuiet(pty.slave, 100);
  assert.equal(drains, 1, 'no drain after close()');
});

test('after close(), nothing more is written, what was queued included', async (t) => {
  const pty = ptyPair(t);
  makeRaw(pty.slave);
  const { onError, errors } = noErrors();
  const writer = new PtyWriter(pty.master, onError);
  writer.write(pattern(1024 * 1024));
  writer.close();
  writer.write(Buffer.from('after close'));
  const got = await readUntilQuiet(pty.slave, 300);
  assert.ok(got.length < 1024 * 1024, `only what the pty took before close() (${got.length} bytes)`);
  t.diagnostic(`the pty took ${got.length} bytes`);
  assert.ok(got.equals(pattern(got.length)), 'and that in order');
  assert.ok(!got.toString().includes('after close'));
  assert.deepEqual(errors, []);
});

test('a write that fails for another reason than a full pty is reported once, and writing stops', (t) => {
  const fd = openSync('/dev/null', 'r'); // writing a read-only fd: EBADF
  t.after(() => closeSync(fd));
  const { onError, errors } = noErrors();
  const writer = new PtyWriter(fd, onError);
  writer.write(Buffer.alloc(0));
  assert.equal(errors.length, 0, 'an empty write writes nothing, so fails at nothing');
  writer.write(Buffer.from('x'));
  writer.write(Buffer.from('y'));
  assert.deepEqual(
    errors.map((e) => e.code),
    ['EBADF'],
  );
});
