import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkInside, checkPamCellsh } from '../../../src/admin/doctor.js';
import { pamCellshLines, pamEnvReaders } from '../../../src/admin/pam-stack.js';

function pamDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-pam-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

test('doctor finds user_readenv=1 in the service file, with its line', (t) => {
  const dir = pamDir({ sshd: '# comment\nsession required pam_env.so user_readenv=1 envfile=/etc/default/locale\n' });
  t.after(() => rmSync(dir, { recursive: true }));
  assert.deepEqual(pamEnvReaders(join(dir, 'sshd')), [{ file: join(dir, 'sshd'), line: 2 }]);
});

test('doctor follows @include, include and substack, once each', (t) => {
  const dir = pamDir({
    sshd: '@include common-auth\nsession include common-session\nauth substack extra\n@include common-auth\n',
    'common-auth': 'auth required pam_unix.so\n',
    'common-session': 'session optional pam_env.so readenv=1 user_readenv=1\n@include sshd\n',
    extra: '-session optional pam_env.so user_readenv=1\n',
  });
  t.after(() => rmSync(dir, { recursive: true }));
  assert.deepEqual(pamEnvReaders(join(dir, 'sshd')), [
    { file: join(dir, 'common-session'), line: 1 },
    { file: join(dir, 'extra'), line: 1 },
  ]);
});

test('doctor ignores commented, user_readenv=0 and missing files', (t) => {
  const dir = pamDir({
    sshd: '#session required pam_env.so user_readenv=1\nsession required pam_env.so user_readenv=0\nsession required pam_env.so # user_readenv=1\n@include gone\n',
  });
  t.after(() => rmSync(dir, { recursive: true }));
  assert.deepEqual(pamEnvReaders(join(dir, 'sshd')), []);
});

test('doctor says whether cellsh-inside is missing, writable by others or readable by users, and whether fs.suid_dumpable undoes that', {
  skip: process.getuid?.() !== 0 && "the file must be root's: run as root",
}, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-inside-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'cellsh-inside');
  const seen = (dumpable = '0'): string[] =>
    checkInside(path, dumpable).map((f) => `${f.status}: ${f.message.replace(`${path} `, '')}`);
  assert.match(seen()[0]!, /^fail: is missing/);
  writeFileSync(path, '');
  for (const [mode, want] of [
    [0o711, /^ok: /],
    [0o755, /^fail: has mode 755, readable by users/],
    [0o751, /^fail: has mode 751, readable by users/],
    [0o731, /^fail: is not root's alone to write/],
    [0o713, /^fail: is not root's alone to write/],
  ] as const) {
    chmodSync(path, mode);
    assert.match(seen()[0]!, want, mode.toString(8));
  }
  chmodSync(path, 0o711);
  assert.equal(seen('0').length, 1);
  assert.equal(seen('2').length, 1);
  assert.match(seen('1')[1]!, /^warn: fs.suid_dumpable is 1: users could trace cellsh-inside/);
});

test("doctor finds pam_cellsh where it refuses a session it can't serve, and says when it is missing", (t) => {
  const dir = pamDir({
    sshd: `@include common-auth\nsession required ${join('/nonexistent', 'pam_cellsh.so')} group=cellsh\n@include common-session\n`,
    'common-auth': 'auth required pam_unix.so\n',
    'common-session': 'session required pam_unix.so\n',
    optional: 'session optional pam_cellsh.so\n-session required pam_cellsh.so\n#session required pam_cellsh.so\n',
    none: '@include common-session\n',
  });
  t.after(() => rmSync(dir, { recursive: true }));
  assert.deepEqual(pamCellshLines(join(dir, 'sshd')), [
    { file: join(dir, 'sshd'), line: 2, module: '/nonexistent/pam_cellsh.so' },
  ]);
  const missing = checkPamCellsh(join(dir, 'sshd'), dir);
  assert.deepEqual(
    missing.map((f) => f.status),
    ['fail'],
  );
  assert.match(missing[0]!.message, /every ssh session is refused/);
  // optional, "-session" (skips a missing module) and commented lines fail open: they do not count.
  assert.deepEqual(pamCellshLines(join(dir, 'optional')), []);
  const absent = checkPamCellsh(join(dir, 'none'), dir);
  assert.deepEqual(
    absent.map((f) => [f.status, f.area]),
    [['warn', 'pam']],
  );
  writeFileSync(join(dir, 'pam_cellsh.so'), '');
  writeFileSync(join(dir, 'here'), 'session requisite pam_cellsh.so\n');
  assert.deepEqual(
    checkPamCellsh(join(dir, 'here'), dir).map((f) => f.status),
    ['ok'],
  );
});
