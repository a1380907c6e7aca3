// A user's ~/.config/cellsh.yaml as the login shell reads it: only the keys the
// record allows, never above the admin's values, a bad file ignored as a whole
// with every problem located, and the values in the helper's --set notation.
// The file is the user's to shape from inside the container: no message quotes
// what it says, and anything but a regular file of theirs is not read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompiledUser } from '../../../src/policy/index.js';
import { userSettings } from '../../../src/session/user-settings.js';

/** The record's uid, which the file must belong to. */
const UID = 1001;
const ROOT_ONLY = process.getuid?.() === 0 ? false : "needs root: the file must belong to the record's uid";

/** A record with a home of its own, allowing keys; the file holds text (or
 * none), or is made by `make` (given its path). */
async function settingsFor(
  text: string | undefined,
  record: Partial<CompiledUser> = {},
  make?: (file: string) => void,
): Promise<{ sets: readonly string[]; messages: readonly string[] }> {
  const home = mkdtempSync(join(tmpdir(), 'cellsh-home-'));
  try {
    if (text !== undefined || make) {
      mkdirSync(join(home, '.config'));
      chownSync(join(home, '.config'), UID, UID);
      const file = join(home, '.config', 'cellsh.yaml');
      if (make) make(file);
      else {
        writeFileSync(file, text!);
        chownSync(file, UID, UID);
      }
    }
    const base: CompiledUser = {
      uid: UID,
      gid: UID,
      name: 'alice',
      group: 'alice',
      groups: [],
      home,
      shell: '/bin/bash',
      hostname: 'alice',
      network: 'none',
      memory: 2 * 2 ** 30,
      memory_high: 0,
      swap: 0,
      pids: 512,
      cpu: 1500,
      io_weight: 0,
      io: [],
      nofile: { soft: 1024, hard: 524288 },
      nproc: { soft: 'max', hard: 'max' },
      core: { soft: 0, hard: 'max' },
      env: [['http_proxy', 'http://proxy:3128']],
      restart: 'idle',
      seccomp: 'default',
      nested_userns: false,
      udp_ports: [0, 0],
      image: 'host',
      layer: { mode: 'temporary', bytes: 0 },
      root: 'none',
      user_may: ['shell', 'hostname', 'env', 'network', 'memory', 'swap', 'pids', 'cpu', 'io_weight', 'nofile'],
    };
    return await userSettings({ ...base, ...record });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

const IGNORED = /^ignoring ~\/\.config\/cellsh\.yaml: your administrator's settings apply/;

test('nothing allowed: the file is not even read', { skip: ROOT_ONLY }, async () => {
  assert.deepEqual(await settingsFor('limits: {pids: 99999}\n', { user_may: [] }), { sets: [], messages: [] });
});

test('no file, or an empty one: nothing to set and nothing to say', { skip: ROOT_ONLY }, async () => {
  assert.deepEqual(await settingsFor(undefined), { sets: [], messages: [] });
  assert.deepEqual(await settingsFor(''), { sets: [], messages: [] });
});

test("allowed keys become --set values in the helper's notation", { skip: ROOT_ONLY }, async () => {
  const got = await settingsFor(
    [
      'shell: /bin/sh',
      'hostname: "{user}-{uid}"',
      'env: {EDITOR: vim, GREETING: "a b"}',
      'network: none',
      'limits: {memory: 512M, swap: 0, pids: 64, cpu: 0.5, io_weight: 50}',
      'rlimits: {nofile: {soft: 256, hard: 4096}}',
      '',
    ].join('\n'),
  );
  assert.deepEqual(got, {
    sets: [
      'shell=/bin/sh',
      'hostname=alice-1001',
      'env=EDITOR=vim GREETING=a%20b',
      'network=none',
      'memory=536870912',
      'swap=0',
      'pids=64',
      'cpu=500',
      'io_weight=50',
      'nofile=256 4096',
    ],
    messages: [],
  });
});

test('every problem is reported at its place, and the whole file is ignored', { skip: ROOT_ONLY }, async () => {
  const got = await settingsFor(
    [
      'hostname: ok', // fine, but ignored with the rest
      'limits:',
      '  memory: 4G', // above the admin's 2G
      '  pids: unlimited', // the admin limits pids
      '  memory_high: 1G', // not allowed
      'network: host', // the admin gives none
      'image: host', // never the user's
      'rlimits: {nofile: unlimited}', // above the admin's hard limit
      'shell: /nonexistent/sh', // would lock the user out
      'colour: blue', // unknown
      '',
    ].join('\n'),
  );
  assert.deepEqual(got.sets, []);
  const file = '~/.config/cellsh.yaml';
  assert.deepEqual(
    got.messages.slice(0, -1),
    [
      `${file}:3:11: limits.memory: at most 2G, your administrator's limit`,
      `${file}:4:9: limits.pids: at most 512, your administrator's limit`,
      `${file}:5:16: limits.memory_high: your administrator does not let you set this (you may set: shell, hostname, env, network, limits.memory, limits.swap, limits.pids, limits.cpu, limits.io_weight, rlimits.nofile)`,
      `${file}:6:10: network: your administrator gives you network: none; you may choose only "none"`,
      `${file}:7:8: image: your administrator does not let you set this (you may set: shell, hostname, env, network, limits.memory, limits.swap, limits.pids, limits.cpu, limits.io_weight, rlimits.nofile)`,
      `${file}:8:19: rlimits.nofile: the hard limit may be at most 524288, your administrator's`,
      `${file}:9:8: shell: not in /etc/shells (the login shells this host offers); a shell that can't start would lock you out`,
      `${file}:10:1: unknown key; expected one of: image, persist, root, shell, hostname, network, env, limits, rlimits, restart, user_may_set, seccomp, nested_userns, forwarding, publish`,
    ].sort((a, b) => Number(a.split(':')[1]) - Number(b.split(':')[1])),
  );
  assert.match(got.messages.at(-1)!, IGNORED);
});

test('invalid YAML and values the schema refuses are reported the same way', { skip: ROOT_ONLY }, async () => {
  const broken = await settingsFor('hostname: [a, b\n');
  assert.ok(
    broken.messages.some((m) => /^~\/\.config\/cellsh\.yaml:\d+:\d+: invalid YAML/.test(m)),
    broken.messages.join('\n'),
  );
  assert.match(broken.messages.at(-1)!, IGNORED);
  const bad = await settingsFor('limits: {memory: 1M}\nenv: {HOME: /tmp}\n');
  assert.deepEqual(bad.messages.slice(0, -1), [
    '~/.config/cellsh.yaml:1:18: limits.memory: expected at least 32M, got a string',
    '~/.config/cellsh.yaml:2:6: env: "HOME": cellsh sets this one itself',
  ]);
});

test("the user's variables may not push the total past 16", { skip: ROOT_ONLY }, async () => {
  const vars = Array.from({ length: 16 }, (_, i) => `V${i}: x`).join(', ');
  const got = await settingsFor(`env: {${vars}}\n`);
  assert.deepEqual(got.messages.slice(0, -1), [
    "~/.config/cellsh.yaml:1:6: env: with your administrator's 1 variables that makes 17; at most 16",
  ]);
});

const SECRET = /secret/i;

test('a settings file that links to another file is ignored, and nothing of that file is shown', {
  skip: ROOT_ONLY,
}, async () => {
  const other = mkdtempSync(join(tmpdir(), 'cellsh-other-'));
  try {
    writeFileSync(join(other, 'notes'), 'hostname: secret-value\nsecret-key: 1\n');
    chownSync(join(other, 'notes'), UID, UID); // even a file of the user's own
    const got = await settingsFor(undefined, {}, (file) => symlinkSync(join(other, 'notes'), file));
    assert.deepEqual(got.sets, []);
    assert.deepEqual(got.messages.slice(0, -1), [
      '~/.config/cellsh.yaml is a symbolic link; cellsh reads only a regular file of your own (not a link), at most 64 KiB',
    ]);
    assert.match(got.messages.at(-1)!, IGNORED);
    assert.doesNotMatch(got.messages.join('\n'), SECRET);
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test('no message quotes a key or value the file holds, only places, known keys and kinds of value', {
  skip: ROOT_ONLY,
}, async () => {
  const got = await settingsFor(
    [
      'secretkey1: x',
      'limits:',
      '  secretkey2: 1',
      '  memory: secretvalue',
      '  cpu: secretcpu',
      '  io: [{device: /dev/secretdev, secretio: 1}]',
      'rlimits:',
      '  nofile: {secretsoft: 1, soft: 64, hard: 128}',
      '  nproc: secret',
      'hostname: "secret{secrettoken}"',
      'env: {secret-name: x, OK: [secretlist]}',
      'shell: /secret/sh',
      'network: secretnet',
      'restart: secretrestart',
      'user_may_set: [secretword]',
      'image: 12345',
      'secretdup: 1',
      'secretdup: 2',
      '',
    ].join('\n'),
  );
  const problems = got.messages.slice(0, -1);
  assert.ok(problems.length >= 15, problems.join('\n'));
  for (const m of problems) assert.match(m, /^~\/\.config\/cellsh\.yaml:\d+:\d+: /);
  assert.doesNotMatch(problems.join('\n'), SECRET);
  assert.doesNotMatch(problems.join('\n'), /12345/);
  assert.ok(
    problems.includes(
      '~/.config/cellsh.yaml:1:1: unknown key; expected one of: image, persist, root, shell, hostname, network, env, limits, rlimits, restart, user_may_set, seccomp, nested_userns, forwarding, publish',
    ),
  );
  assert.ok(
    problems.includes('~/.config/cellsh.yaml:4:11: limits.memory: expected a size like "512M", got a string'),
    problems.join('\n'),
  );
  assert.ok(
    problems.includes(
      '~/.config/cellsh.yaml:16:8: image: expected "host" or an image name like "debian-12", got a number',
    ),
    problems.join('\n'),
  );
  // A typo of a known key still gets its hint (it names the known key only).
  const typo = await settingsFor('hostnme: box\n');
  assert.deepEqual(typo.messages.slice(0, -1), ['~/.config/cellsh.yaml:1:1: unknown key; did you mean "hostname"?']);
});

test("YAML syntax errors are said in words of their own, not the parser's quotes of the file", {
  skip: ROOT_ONLY,
}, async () => {
  // yaml's own messages would quote "|secret" and "\usecr".
  for (const text of [
    'hostname: |secret\n  a\n',
    'hostname: "\\usecret"\n',
    'env: {a: [secret\n',
    'x: !secrettag\n\tsecret: 1\n',
  ]) {
    const got = await settingsFor(text);
    assert.ok(
      got.messages.slice(0, -1).some((m) => /^~\/\.config\/cellsh\.yaml:\d+:\d+: invalid YAML: /.test(m)),
      `${text}: ${got.messages.join('\n')}`,
    );
    assert.doesNotMatch(got.messages.join('\n'), /secr/i);
  }
});

test('a shell path is looked at on the host only once /etc/shells lists it', { skip: ROOT_ONLY }, async (t) => {
  const looked: string[] = [];
  const real = fs.accessSync;
  t.mock.method(fs, 'accessSync', (path: fs.PathLike, mode?: number) => {
    looked.push(String(path));
    real(path, mode);
  });
  const unlisted = await settingsFor('shell: /home/someone/secret-probe\n');
  assert.deepEqual(unlisted.messages.slice(0, -1), [
    "~/.config/cellsh.yaml:1:8: shell: not in /etc/shells (the login shells this host offers); a shell that can't start would lock you out",
  ]);
  assert.deepEqual(looked, [], 'an unlisted path is never looked up');
  const listed = await settingsFor('shell: /bin/sh\n');
  assert.deepEqual(listed, { sets: ['shell=/bin/sh'], messages: [] });
  assert.deepEqual(looked, ['/bin/sh']);
});

test('thousands of problems are cut to the first 20 and a count', { skip: ROOT_ONLY }, async () => {
  const got = await settingsFor(Array.from({ length: 3000 }, (_, i) => `k${i}: x`).join('\n'));
  assert.equal(got.messages.length, 22);
  assert.equal(got.messages[20], '~/.config/cellsh.yaml: 2980 more problems');
  assert.match(got.messages.at(-1)!, IGNORED);
});

test('a 64 KiB file of nested aliases (billion laughs) is checked without expanding them', {
  skip: ROOT_ONLY,
  timeout: 30_000,
}, async () => {
  // Ten levels of ten aliases each stand for 10^10 strings; padded to the bound.
  const lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i < 10; i++)
    lines.push(
      `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    );
  lines.push(
    'env: *a9',
    'limits: {io: *a9, memory: *a9}',
    'rlimits: {nofile: {soft: *a9, hard: *a9}}',
    'user_may_set: *a9',
  );
  let text = lines.join('\n') + '\n';
  for (let i = 0; text.length < 64 * 1024 - 64; i++) text += `b${i}: *a9\n`;
  const peak = process.resourceUsage().maxRSS;
  const started = Date.now();
  const got = await settingsFor(text.slice(0, 64 * 1024));
  const ms = Date.now() - started;
  const grewMiB = (process.resourceUsage().maxRSS - peak) / 1024;
  assert.match(got.messages.at(-1)!, IGNORED);
  assert.ok(ms < 5000, `took ${ms} ms`);
  assert.ok(grewMiB < 256, `peak memory grew by ${grewMiB} MiB`);
});
