// The seccomp keys from YAML to the compiled record: `seccomp` and
// `nested_userns` at every layer, admin-only, and strict with nested user
// namespaces reported as a contradiction at file:line:col.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCompiled, type CompiledUser } from '../../../src/policy/index.js';
import { userSettings } from '../../../src/session/user-settings.js';
import { buildText, problemsOf } from '../../helpers/fixtures.js';

const CONTRADICTS = (where: string): string =>
  `true contradicts "seccomp: strict" (${where}), which refuses every namespace; ` +
  'set seccomp: default where nested user namespaces are wanted, or leave nested_userns false';

/** A user's compiled seccomp fields. */
function seccompOf(users: readonly CompiledUser[], name: string): [string, boolean] | undefined {
  const u = users.find((r) => r.name === name);
  return u && [u.seccomp, u.nested_userns];
}

test('with nothing set every user gets the default profile and no nested user namespaces', () => {
  const built = buildText('');
  assert.deepEqual(built.diagnostics, []);
  assert.deepEqual(seccompOf(built.users, 'alice'), ['default', false]);
  assert.match(
    formatCompiled(built.users, 'x'),
    /\nseccomp default\nnested_userns false\nudp_ports 0 0\nimage host\nlayer temporary 0\nroot none\nend\n/,
  );
});

test('seccomp and nested_userns are taken from defaults, groups and users, key by key', () => {
  const built = buildText(
    'defaults:\n  seccomp: strict\ngroups:\n  dev:\n    seccomp: default\n    nested_userns: true\n' +
      'users:\n  bob:\n    seccomp: unconfined\n',
  );
  assert.deepEqual(built.diagnostics, []);
  assert.deepEqual(seccompOf(built.users, 'alice'), ['default', true]); // alice is in dev
  assert.deepEqual(seccompOf(built.users, 'bob'), ['unconfined', false]);
});

test('strict with nested user namespaces in the defaults is an error at the nested_userns key, once', () => {
  assert.deepEqual(problemsOf('defaults:\n  seccomp: strict\n  nested_userns: true\n'), [
    `policy.yaml:3:18: defaults.nested_userns: ${CONTRADICTS('defaults at policy.yaml:2:12')}`,
  ]);
  assert.deepEqual(
    buildText('defaults:\n  seccomp: strict\n  nested_userns: true\n').users,
    [],
    'no record is written',
  );
});

test("strict from a group meeting nested user namespaces from the user's entry is an error at the user's key", () => {
  assert.deepEqual(problemsOf('groups:\n  dev:\n    seccomp: strict\nusers:\n  alice:\n    nested_userns: true\n'), [
    `policy.yaml:6:20: users.alice.nested_userns: ${CONTRADICTS('groups.dev at policy.yaml:3:14')}`,
  ]);
});

test('a mapping that contradicts itself is reported even when it reaches nobody', () => {
  // carol's group has no enrolled member: no record is compiled from it.
  assert.deepEqual(problemsOf('groups:\n  carol:\n    seccomp: strict\n    nested_userns: true\n'), [
    `policy.yaml:4:20: groups.carol.nested_userns: ${CONTRADICTS('groups.carol at policy.yaml:3:14')}`,
  ]);
});

test('a later layer can settle it, and unconfined with nested user namespaces is no contradiction', () => {
  assert.deepEqual(
    problemsOf(
      'defaults:\n  seccomp: strict\ngroups:\n  dev:\n    nested_userns: true\nusers:\n  alice:\n    seccomp: default\n',
    ),
    [],
  );
  assert.deepEqual(problemsOf('defaults:\n  seccomp: unconfined\n  nested_userns: true\n'), []);
});

test("a user can't choose their own seccomp profile, even when the admin lets them set other keys", {
  skip: process.getuid?.() === 0 ? false : "needs root: the file must belong to the record's uid",
}, async () => {
  const home = mkdtempSync(join(tmpdir(), 'cellsh-home-'));
  try {
    mkdirSync(join(home, '.config'));
    writeFileSync(join(home, '.config', 'cellsh.yaml'), 'seccomp: unconfined\nnested_userns: true\n');
    const record = buildText('defaults:\n  user_may_set: [shell]\n').users.find((u) => u.name === 'alice')!;
    // cellsh reads only a file of the record's own uid.
    chownSync(join(home, '.config'), record.uid, record.gid);
    chownSync(join(home, '.config', 'cellsh.yaml'), record.uid, record.gid);
    const got = await userSettings({ ...record, home });
    assert.deepEqual(got.sets, []);
    assert.deepEqual(got.messages, [
      '~/.config/cellsh.yaml:1:10: seccomp: your administrator does not let you set this (you may set: shell)',
      '~/.config/cellsh.yaml:2:16: nested_userns: your administrator does not let you set this (you may set: shell)',
      "ignoring ~/.config/cellsh.yaml: your administrator's settings apply; fix the file for your next login",
    ]);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
