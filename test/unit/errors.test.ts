// What a person sees when something fails, and the exit code: a CellshError's
// message and hint, never a stack; anything else is an internal error to report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CellshError, describeError, ExitCode, exitCodeOf } from '../../src/errors.js';

test('a CellshError is shown as its message, then its hint, each prefixed by the program', () => {
  const err = new CellshError('not-enrolled', 'alice is not enrolled', {
    hint: 'ask an admin to run "cellsh-admin enroll alice"',
    exitCode: ExitCode.refused,
  });
  assert.equal(
    describeError('cellsh', err),
    'cellsh: alice is not enrolled\ncellsh: ask an admin to run "cellsh-admin enroll alice"\n',
  );
  assert.equal(describeError('cellsh', new CellshError('x', 'no hint here')), 'cellsh: no hint here\n');
});

test('a CellshError keeps its code and cause, and exits with its exit code, else "failure"', () => {
  const cause = new Error('EACCES');
  const err = new CellshError('policy-unreadable', "can't read the policy", { cause, exitCode: ExitCode.config });
  assert.deepEqual([err.code, err.cause, err.exitCode, exitCodeOf(err)], ['policy-unreadable', cause, 78, 78]);
  assert.ok(err instanceof Error);
  assert.equal(exitCodeOf(new CellshError('x', 'y')), ExitCode.failure);
  assert.equal(ExitCode.failure, 1);
});

test('anything else is an internal error: its message and a request to report it, never a stack, exit 70', () => {
  const err = new TypeError('cannot read properties of undefined');
  const shown = describeError('cellsh-admin', err);
  assert.equal(
    shown,
    'cellsh-admin: internal error: cannot read properties of undefined\ncellsh-admin: please report this with the command you ran\n',
  );
  assert.ok(!shown.includes(' at '), 'no stack');
  assert.equal(
    describeError('cellsh', 'a thrown string'),
    'cellsh: internal error: a thrown string\ncellsh: please report this with the command you ran\n',
  );
  assert.equal(exitCodeOf(err), 70);
  assert.equal(exitCodeOf(undefined), ExitCode.internal);
});
