// `cellsh-admin check` with a fixed directory: text and JSON output, exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCheck } from '../../../src/admin/check.js';
import { fixturePath, sampleEnv, tempLayout, textSink } from '../../helpers/fixtures.js';

function check(file: string, json = false): { code: number; out: string; err: string } {
  const out = textSink();
  const err = textSink();
  const code = runCheck({ files: [file], json, env: sampleEnv(), out, err });
  return { code, out: out.text(), err: err.text() };
}

test('a valid policy: exit 0, a summary on stdout, nothing on stderr', () => {
  const file = fixturePath('policy', 'valid-full', 'policy.yaml');
  assert.deepEqual(check(file), { code: 0, out: `${file}: OK, 2 users\n`, err: '' });
});

test('warnings are printed but do not fail the check', () => {
  const tmp = tempLayout();
  try {
    const file = join(tmp.root, 'policy.yaml');
    writeFileSync(file, 'users:\n  carol: {}\n');
    const r = check(file);
    assert.equal(r.code, 0);
    assert.equal(r.out, `${file}: OK, 3 users, 1 warning\n`);
    assert.match(r.err, new RegExp(`^${file}:2:3: warning: users\\.carol: carol is not enrolled`));
  } finally {
    tmp.remove();
  }
});

test('errors: exit 78, every problem on stderr, the counts on stdout', () => {
  const file = fixturePath('policy', 'many-problems', 'policy.yaml');
  const r = check(file);
  assert.equal(r.code, 78);
  assert.equal(r.out, `${file}: 10 errors\n`);
  const lines = r.err.trimEnd().split('\n');
  assert.equal(lines.length, 10);
  assert.equal(
    lines[0],
    `${file}:3:10: defaults.image: expected "host" or an image name like "debian-12", got "Alpine"`,
  );
});

test('--json prints one object and nothing else', () => {
  const file = fixturePath('policy', 'no-such-user', 'policy.yaml');
  const r = check(file, true);
  assert.equal(r.code, 78);
  assert.equal(r.err, '');
  const report = JSON.parse(r.out) as Record<string, unknown>;
  assert.deepEqual(report, {
    ok: false,
    errors: [
      { file, line: 3, col: 3, path: 'users.dave', message: 'no such user on this host' },
      { file, line: 5, col: 3, path: 'users.root', message: 'root is never served by cellsh' },
      {
        file,
        line: 7,
        col: 3,
        path: 'users.bad name',
        message: 'not a user name cellsh supports (has characters other than letters, digits, _ . -)',
      },
    ],
    warnings: [
      {
        file,
        line: 6,
        col: 3,
        path: 'users.carol',
        message:
          'carol is not enrolled (not in the "cellsh" group), so cellsh does not serve them yet; run "cellsh-admin enroll carol"',
      },
    ],
    users: 3,
    files: [file],
  });
});

test('--json for a valid policy, and for a missing file', () => {
  const ok = check(fixturePath('policy', 'comments-only', 'policy.yaml'), true);
  assert.equal(ok.code, 0);
  assert.deepEqual(JSON.parse(ok.out), {
    ok: true,
    errors: [],
    warnings: [],
    users: 2,
    files: [fixturePath('policy', 'comments-only', 'policy.yaml')],
  });
  const missing = check('/nonexistent/policy.yaml', true);
  assert.equal(missing.code, 78);
  assert.deepEqual(JSON.parse(missing.out).errors, [
    {
      file: '/nonexistent/policy.yaml',
      line: null,
      col: null,
      path: '',
      message: "can't read the policy: no such file",
    },
  ]);
});
