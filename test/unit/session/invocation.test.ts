// How cellsh reads its command line: as a login shell, as "shell -c", and as
// sshd's ForceCommand with the client's request in SSH_ORIGINAL_COMMAND.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { parseInvocation } from '../../../src/session/invocation.js';
import { CellshError } from '../../../src/errors.js';

const self = '/usr/local/bin/cellsh';
const none = { self, originalCommand: undefined };

test('a login shell: no arguments, -l, --login', () => {
  for (const args of [[], ['-l'], ['--login']]) assert.deepEqual(parseInvocation(args, none), { kind: 'login' });
});

test('-c COMMAND runs the command, as sshd and su -c call it', () => {
  assert.deepEqual(parseInvocation(['-c', 'echo hi'], none), { kind: 'command', command: 'echo hi' });
  assert.deepEqual(parseInvocation(['-l', '-c', 'ls'], none), { kind: 'command', command: 'ls' });
  assert.deepEqual(parseInvocation(['-lc', 'ls'], none), { kind: 'command', command: 'ls' });
});

test('anything else is a usage error with the usage line', () => {
  for (const args of [['-x'], ['-c'], ['-c', 'a', 'b'], ['file.sh']]) {
    assert.throws(
      () => parseInvocation(args, none),
      (e: unknown) => e instanceof CellshError && e.exitCode === 64 && /usage: cellsh/.test(e.hint ?? ''),
    );
  }
});

test('as ForceCommand through the passwd shell: "cellsh -c cellsh" runs SSH_ORIGINAL_COMMAND, or logs in without one', () => {
  assert.deepEqual(parseInvocation(['-c', self], { self, originalCommand: 'git-upload-pack repo.git' }), {
    kind: 'command',
    command: 'git-upload-pack repo.git',
  });
  assert.deepEqual(parseInvocation(['-c', self], none), { kind: 'login' });
  assert.deepEqual(parseInvocation(['-c', self], { self, originalCommand: '' }), { kind: 'login' });
});

test('as ForceCommand through /bin/sh ("sh -c cellsh" runs cellsh with no arguments)', () => {
  assert.deepEqual(parseInvocation([], { self, originalCommand: 'rsync --server -a . dst' }), {
    kind: 'command',
    command: 'rsync --server -a . dst',
  });
});

test('a -c command other than cellsh itself is run as given, whatever SSH_ORIGINAL_COMMAND says', () => {
  assert.deepEqual(parseInvocation(['-c', 'id'], { self, originalCommand: 'rm -rf ~' }), {
    kind: 'command',
    command: 'id',
  });
});

test("internal-sftp becomes the sftp server inside the container, never sshd's own", {
  skip: existsSync('/usr/lib/openssh/sftp-server') ? false : 'no sftp-server installed here',
}, () => {
  assert.deepEqual(parseInvocation(['-c', self], { self, originalCommand: 'internal-sftp' }), {
    kind: 'command',
    command: '/usr/lib/openssh/sftp-server',
  });
  assert.deepEqual(
    parseInvocation([], { self, originalCommand: 'internal-sftp -l INFO -f AUTH' }),
    { kind: 'command', command: '/usr/lib/openssh/sftp-server -l INFO -f AUTH' },
    'a Subsystem line with options keeps them (sftp-server takes the same ones)',
  );
  assert.deepEqual(parseInvocation([], { self, originalCommand: 'internal-sftpx' }), {
    kind: 'command',
    command: 'internal-sftpx',
  });
});
