// From the resolved policy to the helper's records: who is compiled, and the
// account facts each record carries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildText, fixturePath, problemsOf, sampleEnv, tableDirectory, type UserRow } from '../../helpers/fixtures.js';

const G = 2 ** 30;

test('enrolled users and users named in the policy are compiled, sorted by uid, without the enrolment group', () => {
  const built = buildText(readFileSync(fixturePath('policy', 'valid-full', 'policy.yaml'), 'utf8'));
  assert.deepEqual(built.diagnostics, []);
  assert.deepEqual(built.users, [
    {
      uid: 1001, gid: 1001, name: 'alice', group: 'alice', groups: [1001, 950], home: '/home/alice',
      shell: '/usr/bin/zsh', hostname: 'alice-box-1001', network: 'host', memory: 0, pids: 0, cpu: 0,
    },
    {
      uid: 1002, gid: 1002, name: 'bob', group: 'bob', groups: [1002], home: '/home/bob',
      shell: '/bin/bash', hostname: 'bob', network: 'none', memory: 2 * G, pids: 512, cpu: 1500,
    },
  ]);
});

test('a listed user who is not enrolled is compiled too (with a warning)', () => {
  const built = buildText('users:\n  carol:\n    limits: {memory: 1G}\n');
  assert.deepEqual(built.users.map((u) => [u.name, u.memory]), [['alice', 2 * G], ['bob', 2 * G], ['carol', G]]);
  assert.equal(built.diagnostics.length, 1);
  assert.equal(built.diagnostics[0]!.severity, 'warning');
});

test('no enrolled users and no entries compile to no records', () => {
  const env = { ...sampleEnv(), group: 'nosuchgroup' };
  assert.deepEqual(buildText('', env).users, []);
});

/** Problems for a directory with one enrolled user described by row. */
function problemsFor(row: Partial<UserRow>, groups: Record<string, number> = {}, text = ''): string[] {
  const user: UserRow = { name: 'dan', uid: 1020, gid: 900, ...row };
  const env = { ...sampleEnv(), dir: tableDirectory([user], { cellsh: 900, ...groups }) };
  return problemsOf(text, env);
}

test('a home the helper would refuse is an error naming the user', () => {
  assert.deepEqual(problemsFor({ home: '/home/dan/' }), [
    'policy.yaml: the home of dan, "/home/dan/", is not a path cellsh supports (not canonical: no "//", "." or ".." parts, no trailing "/")',
  ]);
  assert.deepEqual(problemsFor({ home: '/home/d an' }).length, 1);
  assert.deepEqual(problemsFor({ home: '/' }).length, 1);
});

test('a listed user\'s account problem is located at their entry', () => {
  assert.deepEqual(problemsFor({ home: 'relative' }, {}, 'users:\n  dan: {}\n'), [
    'policy.yaml:2:3: users.dan: the home of dan, "relative", is not a path cellsh supports (not absolute)',
  ]);
});

test('the primary group must have a valid name', () => {
  assert.deepEqual(problemsFor({ gid: 4242, groups: ['cellsh'] }), [
    'policy.yaml: the primary group (gid 4242) of dan is not one cellsh supports (it has no name)',
  ]);
  assert.deepEqual(problemsFor({ gid: 901, groups: ['cellsh'] }, { 'bad group': 901 }), [
    'policy.yaml: the primary group (gid 901) of dan is not one cellsh supports (has characters other than letters, digits, _ . -)',
  ]);
});

test('at most 64 groups', () => {
  const many: Record<string, number> = {};
  for (let i = 0; i < 64; i++) many[`g${i}`] = 2000 + i;
  const got = problemsFor({ groups: Object.keys(many) }, many);
  assert.deepEqual(got, ['policy.yaml: dan is in 65 groups; cellsh supports at most 64']);
  const { [`g63`]: _, ...fewer } = many;
  assert.deepEqual(problemsFor({ groups: Object.keys(fewer) }, fewer), []);
});

test('root in the enrolled group is left out with a warning', () => {
  const env = { ...sampleEnv(), dir: tableDirectory([{ name: 'root', uid: 0, gid: 0, groups: ['cellsh'] }], { root: 0, cellsh: 900 }) };
  const built = buildText('', env);
  assert.deepEqual(built.users, []);
  assert.deepEqual(built.diagnostics.map((d) => [d.severity, d.message]), [
    ['warning', 'root (uid 0) is in the "cellsh" group, but root is never served by cellsh; left out'],
  ]);
});

test('two names with one uid are an error', () => {
  const env = { ...sampleEnv(), dir: tableDirectory([{ name: 'dan', uid: 1020, gid: 900 }, { name: 'dan2', uid: 1020, gid: 900 }], { cellsh: 900 }) };
  assert.deepEqual(problemsOf('', env), ['policy.yaml: users dan and dan2 share uid 1020; cellsh serves one name per uid']);
});

test('unlimited limits compile to 0', () => {
  const built = buildText('defaults:\n  limits: {memory: unlimited, pids: unlimited, cpu: unlimited}\n');
  assert.deepEqual(built.users.map((u) => [u.memory, u.pids, u.cpu]), [[0, 0, 0], [0, 0, 0]]);
});
