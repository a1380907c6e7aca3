// A user's ~/.config/cellsh.yaml as the login shell reads it: only the keys the
// record allows, never above the admin's values, a bad file ignored as a whole
// with every problem located, and the values in the helper's --set notation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompiledUser } from '../../../src/policy/index.js';
import { userSettings } from '../../../src/session/user-settings.js';

/** A record with a home of its own, allowing keys; the file holds text (or none). */
async function settingsFor(text: string | undefined, record: Partial<CompiledUser> = {}): Promise<{ sets: readonly string[]; messages: readonly string[] }> {
  const home = mkdtempSync(join(tmpdir(), 'cellsh-home-'));
  try {
    if (text !== undefined) {
      mkdirSync(join(home, '.config'));
      writeFileSync(join(home, '.config', 'cellsh.yaml'), text);
    }
    const base: CompiledUser = {
      uid: 1001, gid: 1001, name: 'alice', group: 'alice', groups: [], home, shell: '/bin/bash', hostname: 'alice',
      network: 'none', memory: 2 * 2 ** 30, memory_high: 0, swap: 0, pids: 512, cpu: 1500, io_weight: 0, io: [],
      nofile: { soft: 1024, hard: 524288 }, nproc: { soft: 'max', hard: 'max' }, core: { soft: 0, hard: 'max' },
      env: [['http_proxy', 'http://proxy:3128']], restart: 'idle', seccomp: 'default', nested_userns: false,
      user_may: ['shell', 'hostname', 'env', 'network', 'memory', 'swap', 'pids', 'cpu', 'io_weight', 'nofile'],
    };
    return await userSettings({ ...base, ...record });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

const IGNORED = /^ignoring ~\/\.config\/cellsh\.yaml: your administrator's settings apply/;

test('nothing allowed: the file is not even read', async () => {
  assert.deepEqual(await settingsFor('limits: {pids: 99999}\n', { user_may: [] }), { sets: [], messages: [] });
});

test('no file, or an empty one: nothing to set and nothing to say', async () => {
  assert.deepEqual(await settingsFor(undefined), { sets: [], messages: [] });
  assert.deepEqual(await settingsFor(''), { sets: [], messages: [] });
});

test('allowed keys become --set values in the helper\'s notation', async () => {
  const got = await settingsFor([
    'shell: /bin/sh', 'hostname: "{user}-{uid}"', 'env: {EDITOR: vim, GREETING: "a b"}', 'network: none',
    'limits: {memory: 512M, swap: 0, pids: 64, cpu: 0.5, io_weight: 50}', 'rlimits: {nofile: {soft: 256, hard: 4096}}', '',
  ].join('\n'));
  assert.deepEqual(got, {
    sets: ['shell=/bin/sh', 'hostname=alice-1001', 'env=EDITOR=vim GREETING=a%20b', 'network=none',
      'memory=536870912', 'swap=0', 'pids=64', 'cpu=500', 'io_weight=50', 'nofile=256 4096'],
    messages: [],
  });
});

test('every problem is reported at its place, and the whole file is ignored', async () => {
  const got = await settingsFor([
    'hostname: ok',                      // fine, but ignored with the rest
    'limits:',
    '  memory: 4G',                      // above the admin's 2G
    '  pids: unlimited',                 // the admin limits pids
    '  memory_high: 1G',                 // not allowed
    'network: host',                     // the admin gives none
    'image: host',                       // never the user's
    'rlimits: {nofile: unlimited}',      // above the admin's hard limit
    'shell: /nonexistent/sh',            // would lock the user out
    'colour: blue',                      // unknown
    '',
  ].join('\n'));
  assert.deepEqual(got.sets, []);
  const file = '~/.config/cellsh.yaml';
  assert.deepEqual(got.messages.slice(0, -1), [
    `${file}:3:11: limits.memory: at most 2G, your administrator's limit`,
    `${file}:4:9: limits.pids: at most 512, your administrator's limit`,
    `${file}:5:16: limits.memory_high: your administrator does not let you set this (you may set: shell, hostname, env, network, limits.memory, limits.swap, limits.pids, limits.cpu, limits.io_weight, rlimits.nofile)`,
    `${file}:6:10: network: your administrator gives you no host network; only "none"`,
    `${file}:7:8: image: your administrator does not let you set this (you may set: shell, hostname, env, network, limits.memory, limits.swap, limits.pids, limits.cpu, limits.io_weight, rlimits.nofile)`,
    `${file}:8:19: rlimits.nofile: the hard limit may be at most 524288, your administrator's`,
    `${file}:9:8: shell: /nonexistent/sh is not in /etc/shells (the login shells this host offers); a shell that can't start would lock you out`,
    `${file}:10:1: colour: unknown key "colour"; expected one of: image, shell, hostname, network, env, limits, rlimits, restart, user_may_set, seccomp, nested_userns`,
  ].sort((a, b) => Number(a.split(':')[1]) - Number(b.split(':')[1])));
  assert.match(got.messages.at(-1)!, IGNORED);
});

test('invalid YAML and values the schema refuses are reported the same way', async () => {
  const broken = await settingsFor('hostname: [a, b\n');
  assert.ok(broken.messages.some((m) => /^~\/\.config\/cellsh\.yaml:\d+:\d+: invalid YAML/.test(m)), broken.messages.join('\n'));
  assert.match(broken.messages.at(-1)!, IGNORED);
  const bad = await settingsFor('limits: {memory: 1M}\nenv: {HOME: /tmp}\n');
  assert.deepEqual(bad.messages.slice(0, -1), [
    '~/.config/cellsh.yaml:1:18: limits.memory: expected at least 32M, got "1M"',
    '~/.config/cellsh.yaml:2:6: env: "HOME": cellsh sets this one itself',
  ]);
});

test('the user\'s variables may not push the total past 16', async () => {
  const vars = Array.from({ length: 16 }, (_, i) => `V${i}: x`).join(', ');
  const got = await settingsFor(`env: {${vars}}\n`);
  assert.deepEqual(got.messages.slice(0, -1), [
    '~/.config/cellsh.yaml:1:6: env: with your administrator\'s 1 variables that makes 17; at most 16',
  ]);
});
