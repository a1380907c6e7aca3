// Reading the YAML: unknown keys with "did you mean", duplicates, syntax
// errors with positions, wrong section shapes, and every problem at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadPolicy } from '../../../src/policy/index.js';
import { fixturePath, problemsOf, sampleEnv } from '../../helpers/fixtures.js';

/** The problems of a fixture, named policy.yaml in messages. */
function fixtureProblems(scenario: string): string[] {
  return problemsOf(readFileSync(fixturePath('policy', scenario, 'policy.yaml'), 'utf8'));
}

test('unknown keys at every level are errors, with a hint when a known key is close', () => {
  assert.deepEqual(fixtureProblems('unknown-key-typo'), [
    'policy.yaml:2:3: defaults.netwrok: unknown key "netwrok"; did you mean "network"?',
    'policy.yaml:4:5: defaults.limits.memroy: unknown key "memroy"; did you mean "memory"?',
    'policy.yaml:5:5: defaults.limits.cpus: unknown key "cpus"; did you mean "cpu"?',
    'policy.yaml:8:5: users.alice.shel: unknown key "shel"; did you mean "shell"?',
    'policy.yaml:9:5: users.alice.colour: unknown key "colour"; expected one of: image, persist, root, shell, hostname, network, env, limits, rlimits, restart, user_may_set, seccomp, nested_userns, forwarding, publish',
    'policy.yaml:10:1: usres: unknown key "usres"; did you mean "users"?',
  ]);
});

test('a prefix of a known key gets a hint too', () => {
  assert.deepEqual(problemsOf('defaults:\n  limits:\n    mem: 1G\n  host: x\n'), [
    'policy.yaml:3:5: defaults.limits.mem: unknown key "mem"; did you mean "memory"?',
    'policy.yaml:4:3: defaults.host: unknown key "host"; did you mean "hostname"?',
  ]);
});

test('the top level has defaults:, groups: and users:, with hints for near misses', () => {
  assert.deepEqual(problemsOf('group: {}\nuser: {}\nextra: {}\n'), [
    'policy.yaml:1:1: group: unknown key "group"; did you mean "groups"?',
    'policy.yaml:2:1: user: unknown key "user"; did you mean "users"?',
    'policy.yaml:3:1: extra: unknown key "extra"; expected one of: defaults, groups, users',
  ]);
});

test('every problem in a file is reported in one run, in file order', () => {
  assert.deepEqual(fixtureProblems('many-problems'), [
    'policy.yaml:3:10: defaults.image: expected "host" or an image name like "debian-12", got "Alpine"',
    'policy.yaml:4:10: defaults.shell: expected an absolute path like "/bin/bash", got "bin/bash" (not absolute)',
    'policy.yaml:5:13: defaults.hostname: unknown token "{hst}" in "{user}-{hst}"; did you mean "{host}"?',
    'policy.yaml:6:12: defaults.network: expected "none", "host" or "private", got "bridge"',
    'policy.yaml:8:13: defaults.limits.memory: expected a size like "512M", got "lots"',
    'policy.yaml:9:11: defaults.limits.pids: expected a whole number from 1 to 4194304 or "unlimited", got 0',
    'policy.yaml:10:10: defaults.limits.cpu: expected at least 0.01 CPUs (the smallest share the kernel enforces), got 0',
    'policy.yaml:14:15: users.alice.limits.memory: expected at least 32M, got "16M"',
    'policy.yaml:15:3: users.dave: no such user on this host',
    'policy.yaml:17:8: users.bob: expected a mapping of settings, got a list',
  ]);
});

test('YAML syntax errors carry their position, and the rest is still checked', () => {
  assert.deepEqual(fixtureProblems('yaml-syntax-error'), [
    'policy.yaml:3:1: invalid YAML: Flow map in block collection must be sufficiently indented and end with a }',
    'policy.yaml:6:1: invalid YAML: Missing closing "quote',
  ]);
  assert.deepEqual(problemsOf('defaults:\n  limits: {memory: lots\nusers: {}\n'), [
    'policy.yaml:2:20: defaults.limits.memory: expected a size like "512M", got "lots"',
    'policy.yaml:3:1: invalid YAML: Flow map in block collection must be sufficiently indented and end with a }',
  ]);
});

test('tabs and several documents are syntax errors', () => {
  assert.deepEqual(problemsOf('defaults:\n\tshell: /bin/sh\n'), [
    'policy.yaml:2:1: invalid YAML: Tabs are not allowed as indentation',
  ]);
  assert.deepEqual(problemsOf('defaults: {}\n---\nusers: {}\n'), [
    'policy.yaml:2:1: invalid YAML: Source contains multiple documents; please use YAML.parseAllDocuments()',
  ]);
});

test('duplicate keys are errors at the second one', () => {
  assert.deepEqual(fixtureProblems('duplicate-keys'), [
    'policy.yaml:3:3: defaults.shell: duplicate key (first set at line 2)',
    'policy.yaml:6:3: users.alice: duplicate key (first set at line 5)',
  ]);
});

test('sections must be mappings; an empty section is fine', () => {
  assert.deepEqual(problemsOf('- defaults\n'), [
    'policy.yaml:1:1: expected a mapping with "defaults:", "groups:" and "users:", got a list',
  ]);
  assert.deepEqual(problemsOf('defaults: none\nusers: [alice]\n'), [
    'policy.yaml:1:11: defaults: expected a mapping of settings, got "none"',
    'policy.yaml:2:8: users: expected a mapping of user names to settings, got a list',
  ]);
  assert.deepEqual(problemsOf('defaults:\nusers:\n  alice:\n'), []);
});

test('a key that is not a plain name is an error', () => {
  assert.deepEqual(problemsOf('defaults:\n  ? [a, b]\n  : 1\n'), [
    'policy.yaml:2:5: defaults: expected a plain key, got a list',
  ]);
});

test('an empty file or one with only comments is a valid empty policy', () => {
  assert.deepEqual(problemsOf(''), []);
  assert.deepEqual(fixtureProblems('comments-only'), []);
});

test('anchors and aliases are followed', () => {
  const text = 'defaults:\n  limits: &small {memory: 1G, pids: 100}\nusers:\n  alice:\n    limits: *small\n';
  assert.deepEqual(problemsOf(text), []);
});

test('loadPolicy names the real file in messages, and an unreadable file is one error', () => {
  const file = fixturePath('policy', 'duplicate-keys', 'policy.yaml');
  const loaded = loadPolicy([{ file }], sampleEnv());
  assert.equal(loaded.diagnostics[0]!.at?.file, file);
  const missing = loadPolicy([{ file: '/nonexistent/policy.yaml' }], sampleEnv());
  assert.deepEqual(
    missing.diagnostics.map((d) => [d.severity, d.at, d.message]),
    [['error', undefined, "can't read the policy: no such file"]],
  );
});
