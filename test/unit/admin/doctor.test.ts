import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pamEnvReaders } from '../../../src/admin/doctor.js';

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
