// The compiled format (src/helper/policy.h): writer and reader round-trip, the
// reader refuses what policy.c refuses, and policy.c itself accepts what the
// writer produces (built from source with gcc when available).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledPolicyError, fnv1a64, formatCompiled, parseCompiled, type CompiledUser } from '../../../src/policy/index.js';
import { packageRoot } from '../../helpers/fixtures.js';

const alice: CompiledUser = {
  uid: 1001, gid: 1001, name: 'alice', group: 'alice', groups: [1001, 27, 100], home: '/home/alice',
  shell: '/bin/bash', hostname: 'alice-box', network: 'none', memory: 2147483648, memory_high: 1073741824, swap: 0,
  pids: 512, cpu: 1500, io_weight: 50, io: [{ major: 8, minor: 0, rbps: 1048576, wbps: 0, riops: 0, wiops: 100 }, { major: 259, minor: 16, rbps: 0, wbps: 2097152, riops: 7, wiops: 0 }],
  nofile: { soft: 1024, hard: 524288 }, nproc: { soft: 'max', hard: 'max' }, core: { soft: 0, hard: 'max' },
  env: [['http_proxy', 'http://proxy:3128'], ['GREETING', 'grüß dich; 100% "sure"']], restart: 'manual', user_may: ['hostname', 'env', 'memory'],
  seccomp: 'strict', nested_userns: false,
};
const bob: CompiledUser = {
  uid: 1002, gid: 100, name: 'bob.smith', group: 'users', groups: [], home: '/srv/home/bob.smith',
  shell: '/usr/bin/zsh', hostname: 'bob', network: 'host', memory: 0, memory_high: 0, swap: 'max', pids: 0, cpu: 0,
  io_weight: 0, io: [], nofile: { soft: 64, hard: 64 }, nproc: { soft: 10, hard: 20 }, core: { soft: 'max', hard: 'max' },
  env: [], restart: 'idle', user_may: [], seccomp: 'default', nested_userns: true,
};

// Line numbers in a one-record file: 1 magic, 2 comment, 3 user ... 27 end, 28 checksum.
const L = { name: 4, gid: 5, groups: 7, home: 8, shell: 9, hostname: 10, network: 11, memory: 12, memory_high: 13, swap: 14,
  pids: 15, cpu: 16, io_weight: 17, io: 18, nofile: 19, nproc: 20, core: 21, env: 22, restart: 23, user_may: 24,
  seccomp: 25, nested_userns: 26, end: 27, checksum: 28 };

/** A valid file with one line replaced (1-based, counting the magic line), checksum recomputed. */
function withLine(lineno: number, replacement: string | null, users: CompiledUser[] = [alice]): string {
  const lines = formatCompiled(users, 'test').split('\n').slice(0, -2);
  if (replacement === null) lines.splice(lineno - 1, 1);
  else lines[lineno - 1] = replacement;
  return resign(lines.join('\n') + '\n');
}

/** Recompute the checksum of a body (everything before the checksum line). */
function resign(body: string): string {
  return `${body}checksum ${fnv1a64(Buffer.from(body))}\n`;
}

function rejects(text: string | Buffer, line: number, message: RegExp): void {
  assert.throws(() => parseCompiled(text), (err: unknown) => {
    assert.ok(err instanceof CompiledPolicyError, String(err));
    assert.equal(err.line, line, err.message);
    assert.match(err.message, message);
    assert.equal(err.exitCode, 78);
    return true;
  });
}

test('the writer produces exactly the documented layout', () => {
  const text = formatCompiled([alice], 'written by a test');
  const lines = text.split('\n');
  assert.deepEqual(lines.slice(0, -2), [
    'cellsh-policy 4', '# written by a test', 'user 1001', 'name alice', 'gid 1001', 'group alice',
    'groups 1001 27 100', 'home /home/alice', 'shell /bin/bash', 'hostname alice-box', 'network none',
    'memory 2147483648', 'memory_high 1073741824', 'swap 0', 'pids 512', 'cpu 1500', 'io_weight 50',
    'io 8:0 1048576 0 0 100 259:16 0 2097152 7 0', 'nofile 1024 524288', 'nproc max max', 'core 0 max',
    'env http_proxy=http://proxy:3128 GREETING=gr%C3%BC%C3%9F%20dich%3B%20100%25%20%22sure%22', 'restart manual',
    'user_may hostname env memory', 'seccomp strict', 'nested_userns false', 'end',
  ]);
  assert.match(lines.at(-2)!, /^checksum [0-9a-f]{16}$/);
  assert.equal(lines.at(-1), '');
});

test('FNV-1a 64 matches the reference vectors', () => {
  assert.equal(fnv1a64(Buffer.from('')), 'cbf29ce484222325');
  assert.equal(fnv1a64(Buffer.from('a')), 'af63dc4c8601ec8c');
  assert.equal(fnv1a64(Buffer.from('foobar')), '85944171f73967e8');
});

test('format -> parse gives back the same records (empty groups too)', () => {
  assert.deepEqual(parseCompiled(formatCompiled([alice, bob], 'two users\nand a second comment line')), [alice, bob]);
  assert.deepEqual(parseCompiled(formatCompiled([], '')), []);
  assert.ok(formatCompiled([bob], 'x').includes('\ngroups \n'));
  assert.ok(formatCompiled([bob], 'x').includes('\nio \n'));
});

test('the reader refuses a bad magic line, and the format before seccomp (version 3)', () => {
  rejects(formatCompiled([alice], 'x').replace('cellsh-policy 4', 'cellsh-policy 2'), 1, /expected "cellsh-policy 4"/);
  rejects(formatCompiled([alice], 'x').replace('cellsh-policy 4', 'cellsh-policy 3'), 1, /expected "cellsh-policy 4"/);
  rejects('', 1, /expected "cellsh-policy 4"/);
});

test('the reader refuses a changed byte (bad checksum)', () => {
  const text = formatCompiled([alice], 'x').replace('memory 2147483648', 'memory 4147483648');
  rejects(text, L.checksum, /checksum mismatch/);
  rejects(formatCompiled([alice], 'x').replace(/checksum .*/, 'checksum 0123'), L.checksum, /not "checksum <16 hex digits>"/);
  rejects(formatCompiled([alice], 'x').slice(0, -1), 0, /does not end with a newline/);
});

test('the reader refuses a duplicate key', () => {
  rejects(withLine(4, 'name alice\nname alice'), 5, /"name" appears twice/);
});

test('the reader refuses a missing key', () => {
  rejects(withLine(L.cpu, null), L.end - 1, /the record for uid 1001 misses "cpu"/);
  rejects(withLine(L.core, null), L.end - 1, /the record for uid 1001 misses "core"/);
  rejects(withLine(L.end, null), 3, /the record for uid 1001 has no "end"/);
});

test('the reader refuses an unknown key, and "end" with a value', () => {
  rejects(withLine(L.cpu, 'cpu 1500\ncpus 1'), L.cpu + 1, /unknown key "cpus"/);
  rejects(withLine(L.end, 'end '), L.end, /unknown key "end"/);
});

test('the reader refuses uid 0 and duplicate uids', () => {
  rejects(withLine(3, 'user 0'), 3, /uid 0 is never served/);
  rejects(withLine(3, 'user 01001'), 3, /expected "user <uid>"/);
  const twice = formatCompiled([alice, { ...bob, uid: 1003 }], 'x').replace('user 1003', 'user 1001').split('checksum')[0]!;
  rejects(resign(twice), L.end + 1, /uid 1001 is not above the previous record's 1001/);
});

test('the reader refuses a newline injection attempt', () => {
  // A shell value smuggling a second record: the extra lines are unknown keys.
  rejects(withLine(L.shell, 'shell /bin/bash\nend\nuser 1\nname x'), L.shell + 1, /unknown key "end"|appears twice|misses/);
  // The writer never lets a newline through.
  assert.throws(() => formatCompiled([{ ...alice, shell: '/bin/bash\nuser 0' }], 'x'), /shell: has characters other than/);
  assert.throws(() => formatCompiled([{ ...alice, hostname: 'a\nb' }], 'x'), /hostname/);
  assert.throws(() => formatCompiled([{ ...alice, name: 'a b' }], 'x'), /name/);
  // A newline in a comment only makes more comment lines.
  assert.deepEqual(parseCompiled(formatCompiled([alice], 'x\nuser 0\nend')), [alice]);
});

test('the reader applies the helper\'s value rules', () => {
  const bad: Array<[number, string, RegExp]> = [
    [4, 'name -alice', /invalid value for "name"/],
    [4, `name ${'a'.repeat(33)}`, /invalid value for "name"/],
    [5, 'gid 4294967295', /invalid value for "gid"/],
    [5, 'gid -1', /invalid value for "gid"/],
    [7, `groups ${Array.from({ length: 65 }, (_, i) => i + 1).join(' ')}`, /invalid value for "groups"/],
    [7, 'groups 1 x', /invalid value for "groups"/],
    [8, 'home /home//alice', /invalid value for "home"/],
    [8, 'home home/alice', /invalid value for "home"/],
    [10, 'hostname -x', /invalid value for "hostname"/],
    [11, 'network private', /invalid value for "network"/],
    [L.memory, 'memory 4611686018427387904', /invalid value for "memory"/],
    [L.memory, 'memory 1.5', /invalid value for "memory"/],
    [L.memory_high, 'memory_high max', /invalid value for "memory_high"/],
    [L.swap, 'swap -1', /invalid value for "swap"/],
    [L.pids, 'pids 4294967296', /invalid value for "pids"/],
    [L.cpu, 'cpu 1024001', /invalid value for "cpu"/],
    [L.cpu, 'cpu +1', /invalid value for "cpu"/],
    [L.io_weight, 'io_weight 10001', /invalid value for "io_weight"/],
    [L.io, 'io 8:0 1 2 3', /invalid value for "io"/],
    [L.io, 'io 8 1 2 3 4', /invalid value for "io"/],
    [L.io, `io ${Array.from({ length: 9 }, (_, i) => `1:${i} 1 1 1 1`).join(' ')}`, /invalid value for "io"/],
    [L.io, 'io 8:0  1 2 3 4', /invalid value for "io"/],
    [L.nofile, 'nofile 4096 1024', /invalid value for "nofile"/],
    [L.nofile, 'nofile 4096', /invalid value for "nofile"/],
    [L.nproc, 'nproc max 10', /invalid value for "nproc"/],
    [L.core, 'core 0 unlimited', /invalid value for "core"/],
    [L.env, 'env HOME=/tmp', /invalid value for "env"/],
    [L.env, 'env A=1 A=2', /invalid value for "env"/],
    [L.env, 'env A=%0A', /invalid value for "env"/],
    [L.env, 'env A=%2f', /invalid value for "env"/],
    [L.env, 'env A=a;b', /invalid value for "env"/],
    [L.env, 'env 1A=x', /invalid value for "env"/],
    [L.restart, 'restart sometimes', /invalid value for "restart"/],
    [L.user_may, 'user_may mounts', /invalid value for "user_may"/],
    [L.user_may, 'user_may shell shell', /invalid value for "user_may"/],
    [L.seccomp, 'seccomp none', /invalid value for "seccomp"/],
    [L.seccomp, 'seccomp Default', /invalid value for "seccomp"/],
    [L.seccomp, 'seccomp ', /invalid value for "seccomp"/],
    [L.nested_userns, 'nested_userns yes', /invalid value for "nested_userns"/],
    [L.nested_userns, 'nested_userns 1', /invalid value for "nested_userns"/],
  ];
  for (const [line, replacement, message] of bad) rejects(withLine(line, replacement), line, message);
  const ok = parseCompiled(withLine(L.groups, 'groups  5  6 '));
  assert.deepEqual(ok[0]!.groups, [5, 6]);
  assert.deepEqual(parseCompiled(withLine(L.groups, 'groups'))[0]!.groups, []);
});

test('the reader and the writer refuse nested user namespaces under seccomp strict', () => {
  rejects(withLine(L.nested_userns, 'nested_userns true'), L.end, /the record for uid 1001 sets nested_userns with seccomp strict/);
  assert.throws(() => formatCompiled([{ ...alice, nested_userns: true }], 'x'), /nested_userns: never true with seccomp strict/);
  assert.deepEqual(parseCompiled(withLine(L.seccomp, 'seccomp unconfined'))[0]!.seccomp, 'unconfined');
  const nested = parseCompiled(formatCompiled([{ ...alice, seccomp: 'default', nested_userns: true }], 'x'))[0]!;
  assert.deepEqual([nested.seccomp, nested.nested_userns], ['default', true]);
});

test('the reader refuses NUL bytes, long lines and oversized files', () => {
  rejects(Buffer.from(formatCompiled([alice], 'x').replace('# x', '# \0')), 0, /NUL byte/);
  rejects(withLine(2, `# ${'x'.repeat(1022)}`), 2, /too long/);
  assert.throws(() => formatCompiled([alice], 'x'.repeat(1100)), /longer than 1023 bytes/);
});

/** The helper's own parser (src/helper/policy.c), as built into build/test-units by test/run.sh. */
const testUnits = join(packageRoot(), 'build', 'test-units');
const noUnits = existsSync(testUnits) ? false : 'build/test-units is not built (test/run.sh builds it)';

/** What policy.c reads from text for uid: the record as it prints it, or its error. */
function readByC(text: string, uid: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-policy-c-'));
  try {
    writeFileSync(join(dir, 'policy'), text);
    return execFileSync(testUnits, ['parse-policy', join(dir, 'policy'), String(uid)], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('policy.c accepts what formatCompiled writes and reads the same values', { skip: noUnits }, () => {
  const text = formatCompiled([alice, bob], 'cross-check');
  const records = text.split('\nend\n');
  // policy.c prints a record in the file's own layout: it must be the writer's, line for line.
  assert.equal(readByC(text, 1001), `${records[0]!.slice(records[0]!.indexOf('user 1001'))}\nend\n`);
  assert.equal(readByC(text, 1002), `${records[1]}\nend\n`);
  assert.equal(readByC(text, 1003), 'absent\n');
  assert.match(readByC(text.replace('pids 512', 'pids 513'), 1001), /^error checksum mismatch/);
  assert.match(readByC(withLine(L.cpu, 'cpu 1500\ncpus 1'), 1001), /^error line 17: unknown key "cpus"/);
  for (const [line, replacement] of [[L.env, 'env A=%0A'], [L.env, 'env SHELL=/bin/sh'], [L.user_may, 'user_may io'], [L.restart, 'restart never'],
    [L.seccomp, 'seccomp none'], [L.nested_userns, 'nested_userns yes']] as const) {
    assert.match(readByC(withLine(line, replacement), 1001), /^error line \d+: invalid value/, replacement);
  }
  assert.match(readByC(withLine(L.nested_userns, 'nested_userns true'), 1001), /^error line 27: the record for uid 1001 sets nested_userns with seccomp strict/);
  assert.match(readByC(formatCompiled([alice], 'x').replace('cellsh-policy 4', 'cellsh-policy 3'), 1001), /^error line 1: expected "cellsh-policy 4"/);
});
