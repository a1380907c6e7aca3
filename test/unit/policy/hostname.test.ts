// Hostname templates: expansion per user, and the check after expansion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandHostname, hostnameTemplateProblem, shortHostname } from '../../../src/policy/hostname.js';
import { buildText, problemsOf, sampleEnv, tableDirectory } from '../../helpers/fixtures.js';

const vars = { user: 'alice', uid: 1001, host: 'box' };

test('tokens expand', () => {
  assert.equal(expandHostname('{user}', vars), 'alice');
  assert.equal(expandHostname('{user}-{host}', vars), 'alice-box');
  assert.equal(expandHostname('c{uid}.{host}', vars), 'c1001.box');
  assert.equal(expandHostname('fixed', vars), 'fixed');
  assert.equal(expandHostname('{user}{user}', vars), 'alicealice');
});

test('templates that may give a valid hostname pass', () => {
  for (const t of ['{user}', '{user}-{host}', 'x{uid}', 'a.b-c', '{user}-'])
    assert.equal(hostnameTemplateProblem(t), undefined, t);
});

test('shortHostname keeps the first label', () => {
  assert.equal(shortHostname('build1.example.org'), 'build1');
  assert.equal(shortHostname('box'), 'box');
});

test('compiled records carry the expanded hostname', () => {
  const built = buildText('defaults:\n  hostname: "{user}-{host}-{uid}"\n');
  assert.deepEqual(
    built.users.map((u) => u.hostname),
    ['alice-box-1001', 'bob-box-1002'],
  );
});

test('a template that expands to an invalid hostname for one user is an error at the template', () => {
  const env = { ...sampleEnv(), dir: tableDirectory([{ name: 'a_b', uid: 1010, gid: 900 }], { cellsh: 900 }) };
  assert.deepEqual(problemsOf('defaults:\n  hostname: "{user}"\n', env), [
    'policy.yaml:2:13: defaults.hostname: "{user}" gives "a_b" for a_b, which is not a valid hostname (has characters other than letters, digits, . -); set users.a_b.hostname',
  ]);
  assert.deepEqual(problemsOf('users:\n  a_b:\n    hostname: ab\n', env), []);
});

test('the built-in template failing for an unlisted user is reported without a line', () => {
  const env = { ...sampleEnv(), dir: tableDirectory([{ name: 'a_b', uid: 1010, gid: 900 }], { cellsh: 900 }) };
  assert.deepEqual(problemsOf('', env), [
    'policy.yaml: "{user}" gives "a_b" for a_b, which is not a valid hostname (has characters other than letters, digits, . -); set users.a_b.hostname',
  ]);
});

test('a long expansion is refused', () => {
  const long = 'u'.repeat(32);
  const env = { ...sampleEnv(), dir: tableDirectory([{ name: long, uid: 1010, gid: 900 }], { cellsh: 900 }) };
  const got = problemsOf('defaults:\n  hostname: "{user}-{user}"\n', env);
  assert.equal(got.length, 1);
  assert.match(got[0]!, /^policy\.yaml:2:13: defaults\.hostname: .* \(longer than 63 characters\)/);
});
