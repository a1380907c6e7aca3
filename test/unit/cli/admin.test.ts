// The cellsh-admin entry: help, usage errors and exit codes, and the real
// entry point (node dist/src/cli/admin.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { main } from '../../../src/cli/admin.js';
import { fixturePath, packageRoot, textSink } from '../../helpers/fixtures.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = textSink();
  const err = textSink();
  const code = await main(argv, { out, err });
  return { code, out: out.text(), err: err.text() };
}

test('--help lists the verbs and exits 0', async () => {
  for (const flag of ['--help', '-h', 'help']) {
    const r = await run(flag);
    assert.equal(r.code, 0);
    assert.match(r.out, /^usage: cellsh-admin <command> \[options\]\n/);
    for (const verb of ['check', 'show', 'diff', 'apply', 'enroll', 'unenroll', 'doctor', 'ps', 'logs', 'stop']) {
      assert.match(r.out, new RegExp(`\\n  ${verb} .* {2}\\S`), `--help lists ${verb}`);
    }
    assert.match(r.out, /\n {2}check \[FILE\.\.\.\] \[--json\] +validate the policy/);
    assert.equal(r.err, '');
  }
});

test("<verb> --help shows that verb's usage and exits 0", async () => {
  const check = await run('check', '--help');
  assert.equal(check.code, 0);
  assert.match(check.out, /^usage: cellsh-admin check \[FILE\.\.\.\] \[--json\]\n/);
  assert.match(check.out, /exit status: 0 no errors/);
  const apply = await run('apply', '-h');
  assert.equal(apply.code, 0);
  assert.match(apply.out, /^usage: cellsh-admin apply\n/);
});

test('usage errors exit 64 with two plain lines', async () => {
  const cases: Array<[string[], string]> = [
    [[], 'cellsh-admin: no command given\ncellsh-admin: usage: cellsh-admin <command> [options]; see --help\n'],
    [
      ['chek'],
      'cellsh-admin: unknown command "chek"; did you mean "check"?\ncellsh-admin: usage: cellsh-admin <command> [options]; see --help\n',
    ],
    [
      ['show', 'a', 'b'],
      'cellsh-admin: show: too many arguments\ncellsh-admin: usage: cellsh-admin show USER [--json]\n',
    ],
    [['show'], 'cellsh-admin: a user name is needed\ncellsh-admin: usage: cellsh-admin show USER\n'],
    [
      ['check', '--bogus'],
      "cellsh-admin: check: Unknown option '--bogus'\ncellsh-admin: usage: cellsh-admin check [FILE...] [--json]\n",
    ],
    [['diff', 'x'], 'cellsh-admin: diff: too many arguments\ncellsh-admin: usage: cellsh-admin diff [--json]\n'],
    [
      ['logs', '-n', 'ten'],
      'cellsh-admin: logs: --lines needs a whole number, got "ten"\ncellsh-admin: usage: cellsh-admin logs [--lines N]\n',
    ],
    [['apply', 'now'], 'cellsh-admin: apply: too many arguments\ncellsh-admin: usage: cellsh-admin apply\n'],
  ];
  for (const [argv, err] of cases) assert.deepEqual(await run(...argv), { code: 64, out: '', err }, argv.join(' '));
});

test('check FILE with the real accounts', async () => {
  const ok = await run('check', fixturePath('policy', 'comments-only', 'policy.yaml'));
  assert.equal(ok.code, 0);
  assert.match(ok.out, /: OK, \d+ users?/);
  const missing = await run('check', '/nonexistent/policy.yaml');
  assert.equal(missing.code, 78);
  assert.equal(missing.err, "/nonexistent/policy.yaml: can't read the policy: no such file\n");
  assert.equal(missing.out, '/nonexistent/policy.yaml: 1 error\n');
});

test('the built entry point runs and sets the exit status', () => {
  const script = join(packageRoot(), 'dist', 'src', 'cli', 'admin.js');
  const help = spawnSync(process.execPath, [script, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: cellsh-admin/);
  const bad = spawnSync(
    process.execPath,
    [script, 'check', fixturePath('policy', 'unknown-key-typo', 'policy.yaml'), '--json'],
    { encoding: 'utf8' },
  );
  assert.equal(bad.status, 78);
  const errors = (JSON.parse(bad.stdout) as { errors: Array<{ message: string }> }).errors;
  assert.equal(errors.filter((e) => e.message.startsWith('unknown key')).length, 6);
  assert.doesNotMatch(bad.stderr, /at .*\.js:\d+/);
});
