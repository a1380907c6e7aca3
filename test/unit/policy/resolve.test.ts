// Layering (built-in <- defaults: <- users.NAME:, key by key) and the account
// checks on users named in the policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { effectiveFor } from '../../../src/policy/index.js';
import { buildText, fixturePath, problemsOf } from '../../helpers/fixtures.js';

const layering = readFileSync(fixturePath('policy', 'user-layering', 'policy.yaml'), 'utf8');

test('a user with no entry gets built-in defaults overlaid with defaults:', () => {
  const { policy } = buildText(layering);
  assert.deepEqual(effectiveFor(policy, 'carol').settings, {
    image: 'host',
    persist: false,
    root: false,
    shell: '/bin/bash',
    hostname: '{user}',
    network: 'host',
    limits: {
      memory: 2 ** 30,
      pids: 256,
      cpu: 1500,
      memory_high: 'unlimited',
      swap: 0,
      io_weight: 'default',
      io: [],
      disk: 'unlimited',
    },
    rlimits: {
      nofile: { soft: 1024, hard: 524288 },
      nproc: { soft: 'unlimited', hard: 'unlimited' },
      core: { soft: 0, hard: 'unlimited' },
    },
    env: {},
    restart: 'idle',
    user_may_set: [],
    seccomp: 'default',
    nested_userns: false,
    publish: { udp: 'none' },
    forwarding: { local: true, remote: true, x11: false },
  });
});

test('a user entry overrides key by key, and limits merge per limit', () => {
  const { policy } = buildText(layering);
  assert.deepEqual(effectiveFor(policy, 'bob').settings, {
    image: 'host',
    persist: false,
    root: false,
    shell: '/bin/bash',
    hostname: '{user}',
    network: 'host',
    limits: {
      memory: 4 * 2 ** 30,
      pids: 256,
      cpu: 1500,
      memory_high: 'unlimited',
      swap: 0,
      io_weight: 'default',
      io: [],
      disk: 'unlimited',
    },
    rlimits: {
      nofile: { soft: 1024, hard: 524288 },
      nproc: { soft: 'unlimited', hard: 'unlimited' },
      core: { soft: 0, hard: 'unlimited' },
    },
    env: {},
    restart: 'idle',
    user_may_set: [],
    seccomp: 'default',
    nested_userns: false,
    publish: { udp: 'none' },
    forwarding: { local: true, remote: true, x11: false },
  });
  assert.deepEqual(effectiveFor(policy, 'alice').settings, {
    image: 'host',
    persist: false,
    root: false,
    shell: '/usr/bin/zsh',
    hostname: '{user}-{host}',
    network: 'host',
    limits: {
      memory: 2 ** 30,
      pids: 256,
      cpu: 1500,
      memory_high: 'unlimited',
      swap: 0,
      io_weight: 'default',
      io: [],
      disk: 'unlimited',
    },
    rlimits: {
      nofile: { soft: 1024, hard: 524288 },
      nproc: { soft: 'unlimited', hard: 'unlimited' },
      core: { soft: 0, hard: 'unlimited' },
    },
    env: {},
    restart: 'idle',
    user_may_set: [],
    seccomp: 'default',
    nested_userns: false,
    publish: { udp: 'none' },
    forwarding: { local: true, remote: true, x11: false },
  });
});

test('each effective value knows the layer and line it came from', () => {
  const { policy } = buildText(layering);
  const { origins } = effectiveFor(policy, 'bob');
  assert.deepEqual(origins['limits.memory'], { layer: 'users.bob', at: { file: 'policy.yaml', line: 14, col: 15 } });
  assert.deepEqual(origins['limits.pids'], { layer: 'defaults', at: { file: 'policy.yaml', line: 7, col: 11 } });
  assert.deepEqual(origins['limits.cpu'], { layer: 'built-in' });
  assert.deepEqual(origins.network, { layer: 'defaults', at: { file: 'policy.yaml', line: 4, col: 12 } });
});

test('resolved settings are read-only', () => {
  const { policy } = buildText(layering);
  const s = effectiveFor(policy, 'bob').settings;
  assert.throws(() => {
    (s as { shell: string }).shell = '/bin/sh';
  }, TypeError);
  assert.throws(() => {
    (s.limits as { pids: number }).pids = 1;
  }, TypeError);
});

test('an invalid value falls back to the layer below (and is reported)', () => {
  const built = buildText('defaults:\n  network: host\nusers:\n  alice:\n    network: wifi\n');
  assert.equal(built.diagnostics.length, 1);
  assert.equal(effectiveFor(built.policy, 'alice').settings.network, 'host');
});

test('users must exist, must not be root; unenrolled users are a warning', () => {
  assert.deepEqual(problemsOf(readFileSync(fixturePath('policy', 'no-such-user', 'policy.yaml'), 'utf8')), [
    'policy.yaml:3:3: users.dave: no such user on this host',
    'policy.yaml:5:3: users.root: root is never served by cellsh',
    'policy.yaml:6:3: warning: users.carol: carol is not enrolled (not in the "cellsh" group), so cellsh does not serve them yet; run "cellsh-admin enroll carol"',
    'policy.yaml:7:3: users.bad name: not a user name cellsh supports (has characters other than letters, digits, _ . -)',
  ]);
});

test('only users who exist and may be served are in policy.users', () => {
  const { policy } = buildText(readFileSync(fixturePath('policy', 'no-such-user', 'policy.yaml'), 'utf8'));
  assert.deepEqual([...policy.users.keys()], ['alice', 'carol']);
  assert.equal(policy.users.get('carol')!.account.uid, 1003);
});
