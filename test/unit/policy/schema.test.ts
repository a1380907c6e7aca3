// Every setting's rule: each valid form and its converted value, each invalid
// form with its exact message and position.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FIELDS, renderPolicyTable, type SettingKey } from '../../../src/policy/index.js';
import { BUILTIN_DEFAULTS, checkText, SETTING_KEYS, USER_SETTABLE } from '../../../src/policy/schema.js';
import { compiledKeyOf } from '../../../src/policy/compile.js';
import { USER_MAY_KEYS } from '../../../src/policy/compiled.js';
import { buildText, fixturePath, packageRoot, problemsOf } from '../../helpers/fixtures.js';
import { join } from 'node:path';

/** A policy setting one key under defaults, and where its value starts. */
function snippet(key: SettingKey, yamlValue: string): { text: string; line: number; col: number } {
  const [group, leaf] = key.includes('.') ? (key.split('.') as [string, string]) : [undefined, key];
  if (group) return { text: `defaults:\n  ${group}:\n    ${leaf}: ${yamlValue}\n`, line: 3, col: 5 + leaf.length + 2 };
  return { text: `defaults:\n  ${leaf}: ${yamlValue}\n`, line: 2, col: 3 + leaf.length + 2 };
}

/** The effective default of a key after setting it to yamlValue (no problems allowed). */
function accepted(key: SettingKey, yamlValue: string): unknown {
  const { text } = snippet(key, yamlValue);
  const built = buildText(text);
  assert.deepEqual(built.diagnostics, [], `${key}: ${yamlValue} should be valid`);
  return flat(built.policy.defaults.settings)[key];
}

function flat(s: ReturnType<typeof buildText>['policy']['defaults']['settings']): Record<SettingKey, unknown> {
  return {
    'image': s.image,
    'persist': s.persist,
    'root': s.root,
    'shell': s.shell,
    'hostname': s.hostname,
    'network': s.network,
    'limits.memory': s.limits.memory,
    'limits.memory_high': s.limits.memory_high,
    'limits.swap': s.limits.swap,
    'limits.pids': s.limits.pids,
    'limits.cpu': s.limits.cpu,
    'limits.io_weight': s.limits.io_weight,
    'limits.io': s.limits.io,
    'limits.disk': s.limits.disk,
    'rlimits.nofile': s.rlimits.nofile,
    'rlimits.nproc': s.rlimits.nproc,
    'rlimits.core': s.rlimits.core,
    'env': s.env,
    'restart': s.restart,
    'user_may_set': s.user_may_set,
    'seccomp': s.seccomp,
    'nested_userns': s.nested_userns,
    'forwarding.local': s.forwarding.local,
    'forwarding.remote': s.forwarding.remote,
    'forwarding.x11': s.forwarding.x11,
    'publish.udp': s.publish.udp,
  };
}

/** The single problem reported for key: yamlValue, as a person sees it. */
function rejected(key: SettingKey, yamlValue: string): string {
  const { text, line, col } = snippet(key, yamlValue);
  const got = problemsOf(text);
  assert.equal(got.length, 1, `${key}: ${yamlValue} should give one problem, got ${JSON.stringify(got)}`);
  const prefix = `policy.yaml:${line}:${col}: defaults.${key}: `;
  assert.ok(got[0]!.startsWith(prefix), `${got[0]} should start with ${prefix}`);
  return got[0]!.slice(prefix.length);
}

const VALID: Array<[SettingKey, string, unknown]> = [
  ['image', 'host', 'host'],
  ['shell', '/bin/bash', '/bin/bash'],
  ['shell', '/opt/x+y@z/bin/sh-5.2_1', '/opt/x+y@z/bin/sh-5.2_1'],
  ['shell', '/home/a/.local/bin/fish', '/home/a/.local/bin/fish'],
  ['hostname', '"{user}"', '{user}'],
  ['hostname', '"{user}-{host}.{uid}"', '{user}-{host}.{uid}'],
  ['hostname', 'box', 'box'],
  ['hostname', '42', '42'],
  ['network', 'none', 'none'],
  ['network', 'host', 'host'],
  ['limits.memory', '512M', 512 * 2 ** 20],
  ['limits.memory', '2G', 2 * 2 ** 30],
  ['limits.memory', '1.5G', 1610612736],
  ['limits.memory', '2GiB', 2 * 2 ** 30],
  ['limits.memory', '2gb', 2 * 2 ** 30],
  ['limits.memory', '"1 G"', 2 ** 30],
  ['limits.memory', '32768k', 32 * 2 ** 20],
  ['limits.memory', '1Ti', 2 ** 40],
  ['limits.memory', '33554432', 33554432],
  ['limits.memory', 'unlimited', 'unlimited'],
  ['limits.memory', 'Unlimited', 'unlimited'],
  ['limits.pids', '1', 1],
  ['limits.pids', '512', 512],
  ['limits.pids', '4194304', 4194304],
  ['limits.pids', '"256"', 256],
  ['limits.pids', 'unlimited', 'unlimited'],
  ['limits.cpu', '1.5', 1500],
  ['limits.cpu', '0.25', 250],
  ['limits.cpu', '2', 2000],
  ['limits.cpu', '0.01', 10],
  ['limits.cpu', '1.50', 1500],
  ['limits.cpu', '1024', 1024000],
  ['limits.cpu', '"0.5"', 500],
  ['limits.cpu', 'unlimited', 'unlimited'],
  ['limits.memory_high', '1536M', 1536 * 2 ** 20],
  ['limits.memory_high', 'unlimited', 'unlimited'],
  ['limits.swap', '0', 0],
  ['limits.swap', '1G', 2 ** 30],
  ['limits.swap', 'unlimited', 'unlimited'],
  ['limits.io_weight', '50', 50],
  ['limits.io_weight', '10000', 10000],
  ['limits.io_weight', 'default', 'default'],
  ['limits.io', '[]', []],
  [
    'limits.io',
    '[{device: /dev/sda, write_bps: 50M}]',
    [
      {
        device: '/dev/sda',
        read_bps: 'unlimited',
        write_bps: 50 * 2 ** 20,
        read_iops: 'unlimited',
        write_iops: 'unlimited',
      },
    ],
  ],
  [
    'limits.io',
    '[{device: /dev/nvme0n1, read_bps: 1G, write_bps: 100M, read_iops: 5000, write_iops: 1000}]',
    [{ device: '/dev/nvme0n1', read_bps: 2 ** 30, write_bps: 100 * 2 ** 20, read_iops: 5000, write_iops: 1000 }],
  ],
  ['rlimits.nofile', '4096', { soft: 4096, hard: 4096 }],
  ['rlimits.nofile', '{soft: 1024, hard: unlimited}', { soft: 1024, hard: 'unlimited' }],
  ['rlimits.nproc', 'unlimited', { soft: 'unlimited', hard: 'unlimited' }],
  ['rlimits.core', '0', { soft: 0, hard: 0 }],
  ['rlimits.core', '{soft: 0, hard: 1G}', { soft: 0, hard: 2 ** 30 }],
  ['env', '{}', {}],
  [
    'env',
    '{EDITOR: vim, http_proxy: "http://proxy:3128", N: 5, EMPTY: ""}',
    { EDITOR: 'vim', http_proxy: 'http://proxy:3128', N: '5', EMPTY: '' },
  ],
  [
    'env',
    '{PATH: "/opt/tools/bin:/usr/bin:/bin", GREETING: "grüß dich; 100%"}',
    { PATH: '/opt/tools/bin:/usr/bin:/bin', GREETING: 'grüß dich; 100%' },
  ],
  ['restart', 'idle', 'idle'],
  ['restart', 'login', 'login'],
  ['restart', 'manual', 'manual'],
  ['user_may_set', '[]', []],
  [
    'user_may_set',
    '[shell, hostname, env, network, limits.memory, rlimits.nofile]',
    ['shell', 'hostname', 'env', 'network', 'limits.memory', 'rlimits.nofile'],
  ],
  ['seccomp', 'default', 'default'],
  ['seccomp', 'strict', 'strict'],
  ['seccomp', 'unconfined', 'unconfined'],
  ['nested_userns', 'true', true],
  ['nested_userns', 'false', false],
  ['forwarding.local', 'false', false],
  ['forwarding.remote', 'false', false],
  ['forwarding.x11', 'true', true],
  ['publish.udp', 'none', 'none'],
];

for (const [key, yamlValue, want] of VALID) {
  test(`${key}: ${yamlValue} is accepted as ${JSON.stringify(want)}`, () => {
    assert.deepEqual(accepted(key, yamlValue), want);
  });
}

const NOT_CANONICAL = 'not canonical: no "//", "." or ".." parts, no trailing "/"';
const INVALID: Array<[SettingKey, string, string]> = [
  ['image', 'Alpine', 'expected "host" or an image name like "debian-12", got "Alpine"'],
  ['image', '../x', 'expected "host" or an image name like "debian-12", got "../x"'],
  ['image', '5', 'expected "host" or an image name like "debian-12", got 5'],
  ['shell', 'bash', 'expected an absolute path like "/bin/bash", got "bash" (not absolute)'],
  ['shell', '/bin//bash', `expected an absolute path like "/bin/bash", got "/bin//bash" (${NOT_CANONICAL})`],
  ['shell', '/bin/./bash', `expected an absolute path like "/bin/bash", got "/bin/./bash" (${NOT_CANONICAL})`],
  ['shell', '/bin/../bash', `expected an absolute path like "/bin/bash", got "/bin/../bash" (${NOT_CANONICAL})`],
  ['shell', '/bin/bash/', `expected an absolute path like "/bin/bash", got "/bin/bash/" (${NOT_CANONICAL})`],
  [
    'shell',
    '"/bin/ba sh"',
    'expected an absolute path like "/bin/bash", got "/bin/ba sh" (has characters other than letters, digits, _ . / + @ -)',
  ],
  [
    'shell',
    '"/bin/bash\\nuser 0"',
    'expected an absolute path like "/bin/bash", got "/bin/bash\\nuser 0" (has characters other than letters, digits, _ . / + @ -)',
  ],
  ['shell', '/', 'expected an absolute path like "/bin/bash", got "/" (the root folder)'],
  [
    'shell',
    `/${'a'.repeat(255)}`,
    `expected an absolute path like "/bin/bash", got "/${'a'.repeat(255)}" (longer than 255 characters)`,
  ],
  ['shell', '[/bin/sh]', 'expected an absolute path like "/bin/bash", got a list (not a string)'],
  ['hostname', '"{usr}"', 'unknown token "{usr}" in "{usr}"; did you mean "{user}"?'],
  ['hostname', '"{foo}"', 'unknown token "{foo}" in "{foo}"; known tokens: {user}, {uid}, {host}'],
  ['hostname', '"{user"', 'unmatched "{" in "{user"'],
  ['hostname', '"user}"', 'unmatched "}" in "user}"'],
  ['hostname', '"-{user}"', 'expected a hostname template like "{user}", got "-{user}" (starts with "-" or ".")'],
  ['hostname', '".x"', 'expected a hostname template like "{user}", got ".x" (starts with "-" or ".")'],
  [
    'hostname',
    '"{user}_x"',
    'expected a hostname template like "{user}", got "{user}_x" (has characters other than letters, digits, . -)',
  ],
  ['hostname', '""', 'expected a hostname template like "{user}", got "" (empty)'],
  [
    'hostname',
    'a'.repeat(64),
    `expected a hostname template like "{user}", got "${'a'.repeat(64)}" (longer than 63 characters)`,
  ],
  ['hostname', 'true', 'expected a hostname template like "{user}", got true'],
  ['network', 'bridge', 'expected "none", "host" or "private", got "bridge"'],
  ['network', '{}', 'expected "none", "host" or "private", got a mapping'],
  ['limits.memory', 'lots', 'expected a size like "512M", got "lots"'],
  ['limits.memory', '2X', 'expected a size like "512M", got "2X"'],
  ['limits.memory', '1iB', 'expected a size like "512M", got "1iB"'],
  ['limits.memory', '-1', 'expected a size like "512M", got -1'],
  ['limits.memory', '1.5', 'expected a size like "512M", got 1.5'],
  ['limits.memory', '16M', 'expected at least 32M, got "16M"'],
  ['limits.memory', '64k', 'expected at least 32M, got "64k"'],
  ['limits.memory', '1000', 'expected at least 32M, got 1000'],
  ['limits.memory', '0', 'expected at least 32M, got 0'],
  ['limits.memory', '9000T', 'expected at most 8191T, got "9000T"'],
  ['limits.pids', '0', 'expected a whole number from 1 to 4194304 or "unlimited", got 0'],
  ['limits.pids', '4194305', 'expected a whole number from 1 to 4194304 or "unlimited", got 4194305'],
  ['limits.pids', '1.5', 'expected a whole number from 1 to 4194304 or "unlimited", got 1.5'],
  ['limits.pids', '-1', 'expected a whole number from 1 to 4194304 or "unlimited", got -1'],
  ['limits.pids', 'lots', 'expected a whole number from 1 to 4194304 or "unlimited", got "lots"'],
  ['limits.cpu', '0', 'expected at least 0.01 CPUs (the smallest share the kernel enforces), got 0'],
  ['limits.cpu', '-1', 'expected at least 0.01 CPUs (the smallest share the kernel enforces), got -1'],
  ['limits.cpu', '1025', 'expected at most 1024 CPUs, got 1025'],
  ['limits.cpu', '0.0005', 'expected at least 0.01 CPUs (the smallest share the kernel enforces), got 0.0005'],
  ['limits.cpu', '0.009', 'expected at least 0.01 CPUs (the smallest share the kernel enforces), got 0.009'],
  ['limits.cpu', '1.0001', 'expected at most 3 decimals, got 1.0001'],
  ['limits.cpu', 'lots', 'expected a number of CPUs like 1.5 or "unlimited", got "lots"'],
  ['limits.cpu', '.inf', 'expected a number of CPUs like 1.5 or "unlimited", got .inf'],
  ['limits.cpu', '[1]', 'expected a number of CPUs like 1.5 or "unlimited", got a list'],
  ['limits.memory_high', '1M', 'expected at least 32M, got "1M"'],
  ['limits.swap', 'lots', 'expected a size like "512M", got "lots"'],
  ['limits.io_weight', '0', 'expected a weight from 1 to 10000 or "default", got 0'],
  ['limits.io_weight', '10001', 'expected a weight from 1 to 10000 or "default", got 10001'],
  ['limits.io', '/dev/sda', 'expected a list of {device, read_bps, write_bps, read_iops, write_iops}, got "/dev/sda"'],
  ['limits.io', '[{device: /dev/sda}]', 'item 1: set at least one of read_bps, write_bps, read_iops, write_iops'],
  ['limits.io', '[{device: sda, read_bps: 1M}]', 'item 1: expected device: /dev/NAME, got "sda"'],
  [
    'limits.io',
    '[{device: /dev/../etc/passwd, read_bps: 1M}]',
    'item 1: expected device: /dev/NAME, got "/dev/../etc/passwd"',
  ],
  ['limits.io', '[{device: /dev/sda, read_bps: 1k}]', 'item 1: read_bps: expected at least 4K, got "1k"'],
  [
    'limits.io',
    '[{device: /dev/sda, write_iops: 0}]',
    'item 1: write_iops: expected a whole number from 1 to 4294967295 or "unlimited", got 0',
  ],
  [
    'limits.io',
    '[{device: /dev/sda, speed: 1M}]',
    'item 1: unknown key "speed"; expected device, read_bps, write_bps, read_iops, write_iops',
  ],
  [
    'limits.io',
    `[${Array.from({ length: 9 }, () => '{device: /dev/sda, read_bps: 1M}').join(', ')}]`,
    'expected at most 8 devices, got 9',
  ],
  [
    'rlimits.nofile',
    '10',
    'expected a whole number from 64 to 1073741816 or "unlimited", got 10 (or {soft: N, hard: N})',
  ],
  ['rlimits.nofile', '{soft: 4096, hard: 1024}', 'the soft limit is above the hard limit'],
  ['rlimits.nofile', '{soft: unlimited, hard: 1024}', 'the soft limit is above the hard limit'],
  ['rlimits.nofile', '{soft: 1024}', 'expected {soft: N, hard: N}, got a mapping with "soft"'],
  [
    'rlimits.nproc',
    '{soft: 1, hard: lots}',
    'hard: expected a whole number from 1 to 4194304 or "unlimited", got "lots"',
  ],
  ['rlimits.core', 'big', 'expected a size like "512M", got "big" (or {soft: N, hard: N})'],
  ['env', 'EDITOR=vim', 'expected a mapping of variable names to values, like {EDITOR: vim}, got "EDITOR=vim"'],
  ['env', '{HOME: /tmp}', '"HOME": cellsh sets this one itself'],
  ['env', '{SSH_AUTH_SOCK: /tmp/x}', '"SSH_AUTH_SOCK": cellsh sets this one itself'],
  ['env', '{1X: a}', '"1X": a name is letters, digits and _, not starting with a digit'],
  ['env', '{"A-B": a}', '"A-B": a name is letters, digits and _, not starting with a digit'],
  ['env', '{A: "two\\nlines"}', 'A: has a control character (a newline or tab, say)'],
  ['env', '{A: [1]}', 'A: expected a string, got a list'],
  ['env', `{A: ${'x'.repeat(256)}}`, 'A: longer than 255 bytes'],
  ['env', `{${Array.from({ length: 17 }, (_, i) => `V${i}: x`).join(', ')}}`, 'expected at most 16 variables, got 17'],
  [
    'env',
    `{${Array.from({ length: 5 }, (_, i) => `V${i}: "${';'.repeat(80)}"`).join(', ')}}`,
    'the variables take 1219 bytes in the compiled policy, at most 1000; set fewer or shorter ones',
  ],
  ['restart', 'never', 'expected "idle", "login" or "manual", got "never"'],
  ['user_may_set', 'shell', 'expected a list like [shell, limits.memory], got "shell"'],
  ['user_may_set', '[limits.io]', '"limits.io" is never the user\'s to set'],
  ['user_may_set', '[image]', '"image" is never the user\'s to set'],
  ['user_may_set', '[user_may_set]', '"user_may_set" is never the user\'s to set'],
  ['user_may_set', '[limits.memroy]', 'unknown key "limits.memroy"; did you mean "limits.memory"?'],
  ['user_may_set', '[mounts]', `unknown key "mounts"; expected one of: ${USER_SETTABLE.join(', ')}`],
  ['user_may_set', '[shell, shell]', '"shell" is listed twice'],
  ['user_may_set', '[seccomp]', '"seccomp" is never the user\'s to set'],
  ['user_may_set', '[nested_userns]', '"nested_userns" is never the user\'s to set'],
  ['seccomp', 'none', 'expected "default", "strict" or "unconfined", got "none"'],
  ['seccomp', 'Strict', 'expected "default", "strict" or "unconfined", got "Strict"'],
  ['seccomp', 'false', 'expected "default", "strict" or "unconfined", got false'],
  ['seccomp', '[default]', 'expected "default", "strict" or "unconfined", got a list'],
  ['nested_userns', 'yes', 'expected true or false, got "yes"'],
  ['nested_userns', '1', 'expected true or false, got 1'],
  ['nested_userns', '"true"', 'expected true or false, got "true"'],
  ['forwarding.x11', 'yes', 'expected true or false, got "yes"'],
  ['user_may_set', '[forwarding.local]', '"forwarding.local" is never the user\'s to set'],
  ['publish.udp', '80', 'expected "none", a port or a range LO-HI of at most 100 ports from 1024 to 65535, got 80'],
  [
    'publish.udp',
    '60001-60101',
    'expected "none", a port or a range LO-HI of at most 100 ports from 1024 to 65535, got "60001-60101"',
  ],
  [
    'publish.udp',
    '60010-60001',
    'expected "none", a port or a range LO-HI of at most 100 ports from 1024 to 65535, got "60010-60001"',
  ],
  [
    'publish.udp',
    '65536',
    'expected "none", a port or a range LO-HI of at most 100 ports from 1024 to 65535, got 65536',
  ],
  ['user_may_set', '[publish.udp]', '"publish.udp" is never the user\'s to set'],
];

for (const [key, yamlValue, message] of INVALID) {
  test(`${key}: ${yamlValue.slice(0, 30)} is rejected`, () => {
    assert.equal(rejected(key, yamlValue), message);
  });
}

test('an empty value is reported at its key', () => {
  assert.deepEqual(problemsOf('defaults:\n  shell:\n'), [
    'policy.yaml:2:3: defaults.shell: expected an absolute path like "/bin/bash", got nothing (not a string)',
  ]);
});

test('limits must be a mapping', () => {
  assert.deepEqual(problemsOf('defaults:\n  limits: 5\n'), [
    'policy.yaml:2:11: defaults.limits: expected a mapping with memory, memory_high, swap, pids, cpu, io_weight, io, disk, got 5',
  ]);
});

test('the built-in defaults are the documented ones', () => {
  assert.deepEqual(BUILTIN_DEFAULTS, {
    'image': 'host',
    'persist': false,
    'root': false,
    'shell': '/bin/bash',
    'hostname': '{user}',
    'network': 'none',
    'limits.memory': 2 * 2 ** 30,
    'limits.memory_high': 'unlimited',
    'limits.swap': 0,
    'limits.pids': 512,
    'limits.cpu': 1500,
    'limits.io_weight': 'default',
    'limits.io': [],
    'limits.disk': 'unlimited',
    'rlimits.nofile': { soft: 1024, hard: 524288 },
    'rlimits.nproc': { soft: 'unlimited', hard: 'unlimited' },
    'rlimits.core': { soft: 0, hard: 'unlimited' },
    'env': {},
    'restart': 'idle',
    'user_may_set': [],
    'seccomp': 'default',
    'nested_userns': false,
    'forwarding.local': true,
    'forwarding.remote': true,
    'forwarding.x11': false,
    'publish.udp': 'none',
  });
});

test('every example passes its own checker and formats back', () => {
  for (const key of SETTING_KEYS) {
    const spec = FIELDS[key] as { example: string; default: string; format: (v: unknown) => string };
    assert.doesNotThrow(() => checkText(key, spec.example), key);
    assert.equal(spec.format(checkText(key, spec.default)), spec.default, key);
  }
});

test('users may be let set the session settings and limits, never the image, io devices or the policy keys', () => {
  assert.deepEqual(USER_SETTABLE, [
    'shell',
    'hostname',
    'network',
    'env',
    'limits.memory',
    'limits.memory_high',
    'limits.swap',
    'limits.pids',
    'limits.cpu',
    'limits.io_weight',
    'rlimits.nofile',
    'rlimits.nproc',
    'rlimits.core',
  ]);
  // Each maps to a key the helper's --set knows (user_may_key in policy.c).
  assert.deepEqual(USER_SETTABLE.map(compiledKeyOf).sort(), [...USER_MAY_KEYS].sort());
});

test('renderPolicyTable has a header and one row per setting', () => {
  const lines = renderPolicyTable().trimEnd().split('\n');
  assert.equal(lines[0], '| key | type | default | example | description |');
  assert.equal(lines.length, 2 + SETTING_KEYS.length);
  assert.equal(
    lines[9],
    '| `limits.memory` | size or `unlimited` | `2G` | `512M` | Memory the whole container may use (binary units: K, M, G, T; at least 32M). |',
  );
  for (const line of lines) assert.equal(line.split(/(?<!\\)\|/).length, 7, line);
});

test('src/policy/README.md shows the current table', () => {
  const readme = readFileSync(join(packageRoot(), 'src', 'policy', 'README.md'), 'utf8');
  assert.ok(readme.includes(renderPolicyTable()), 'paste renderPolicyTable() into src/policy/README.md');
});

test('the installed default policy (config/policy.yaml) is valid and equals the built-in defaults', () => {
  const text = readFileSync(join(packageRoot(), 'config', 'policy.yaml'), 'utf8');
  const built = buildText(text);
  assert.deepEqual(built.diagnostics, []);
  assert.deepEqual(flat(built.policy.defaults.settings), BUILTIN_DEFAULTS);
  assert.ok(fixturePath('policy').endsWith('test/fixtures/policy'));
});
