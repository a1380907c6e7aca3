// The compiled format (src/helper/policy.h): writer and reader round-trip, the
// reader refuses what policy.c refuses, and policy.c itself accepts what the
// writer produces (built from source with gcc when available).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledPolicyError, fnv1a64, formatCompiled, parseCompiled, type CompiledUser } from '../../../src/policy/index.js';
import { packageRoot } from '../../helpers/fixtures.js';

const alice: CompiledUser = {
  uid: 1001, gid: 1001, name: 'alice', group: 'alice', groups: [1001, 27, 100], home: '/home/alice',
  shell: '/bin/bash', hostname: 'alice-box', network: 'none', memory: 2147483648, pids: 512, cpu: 1500,
};
const bob: CompiledUser = {
  uid: 1002, gid: 100, name: 'bob.smith', group: 'users', groups: [], home: '/srv/home/bob.smith',
  shell: '/usr/bin/zsh', hostname: 'bob', network: 'host', memory: 0, pids: 0, cpu: 0,
};

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
    'cellsh-policy 1', '# written by a test', 'user 1001', 'name alice', 'gid 1001', 'group alice',
    'groups 1001 27 100', 'home /home/alice', 'shell /bin/bash', 'hostname alice-box', 'network none',
    'memory 2147483648', 'pids 512', 'cpu 1500', 'end',
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
});

test('the reader refuses a bad magic line', () => {
  rejects(formatCompiled([alice], 'x').replace('cellsh-policy 1', 'cellsh-policy 2'), 1, /expected "cellsh-policy 1"/);
  rejects('', 1, /expected "cellsh-policy 1"/);
});

test('the reader refuses a changed byte (bad checksum)', () => {
  const text = formatCompiled([alice], 'x').replace('memory 2147483648', 'memory 4147483648');
  rejects(text, 16, /checksum mismatch/);
  rejects(formatCompiled([alice], 'x').replace(/checksum .*/, 'checksum 0123'), 16, /not "checksum <16 hex digits>"/);
  rejects(formatCompiled([alice], 'x').slice(0, -1), 0, /does not end with a newline/);
});

test('the reader refuses a duplicate key', () => {
  rejects(withLine(4, 'name alice\nname alice'), 5, /"name" appears twice/);
});

test('the reader refuses a missing key', () => {
  rejects(withLine(14, null), 14, /the record for uid 1001 misses "cpu"/);
  rejects(withLine(15, null), 3, /the record for uid 1001 has no "end"/);
});

test('the reader refuses an unknown key, and "end" with a value', () => {
  rejects(withLine(14, 'cpu 1500\nswap 0'), 15, /unknown key "swap"/);
  rejects(withLine(15, 'end '), 15, /unknown key "end"/);
});

test('the reader refuses uid 0 and duplicate uids', () => {
  rejects(withLine(3, 'user 0'), 3, /uid 0 is never served/);
  rejects(withLine(3, 'user 01001'), 3, /expected "user <uid>"/);
  const twice = formatCompiled([alice, { ...bob, uid: 1003 }], 'x').replace('user 1003', 'user 1001').split('checksum')[0]!;
  rejects(resign(twice), 16, /uid 1001 is not above the previous record's 1001/);
});

test('the reader refuses a newline injection attempt', () => {
  // A shell value smuggling a second record: the extra lines are unknown keys.
  rejects(withLine(9, 'shell /bin/bash\nend\nuser 1\nname x'), 10, /unknown key "end"|appears twice|misses/);
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
    [12, 'memory 4611686018427387904', /invalid value for "memory"/],
    [12, 'memory 1.5', /invalid value for "memory"/],
    [13, 'pids 4294967296', /invalid value for "pids"/],
    [14, 'cpu 1024001', /invalid value for "cpu"/],
    [14, 'cpu +1', /invalid value for "cpu"/],
  ];
  for (const [line, replacement, message] of bad) rejects(withLine(line, replacement), line, message);
  const ok = parseCompiled(withLine(7, 'groups  5  6 '));
  assert.deepEqual(ok[0]!.groups, [5, 6]);
  assert.deepEqual(parseCompiled(withLine(7, 'groups'))[0]!.groups, []);
});

test('the reader refuses NUL bytes, long lines and oversized files', () => {
  rejects(Buffer.from(formatCompiled([alice], 'x').replace('# x', '# \0')), 0, /NUL byte/);
  rejects(withLine(2, `# ${'x'.repeat(1022)}`), 2, /too long/);
  assert.throws(() => formatCompiled([alice], 'x'.repeat(1100)), /longer than 1023 bytes/);
});

/** Build a tiny program around src/helper/policy.c that prints the record for each uid argument. */
function buildCReader(dir: string): string | { skip: string } {
  const helper = join(packageRoot(), 'src', 'helper');
  const main = join(dir, 'main.c');
  writeFileSync(main, [
    '#include <stdio.h>', '#include <stdlib.h>', '#include "policy.h"', '#include "util.h"',
    'int main(int argc, char **argv) {',
    '  size_t len; char *buf = read_fd(0, POLICY_MAX_BYTES, &len); if (!buf) return 2;',
    '  for (int i = 1; i < argc; i++) {',
    '    struct user_policy u; char err[256];',
    '    int r = policy_parse(buf, (uid_t)strtoul(argv[i], NULL, 10), &u, err, sizeof err);',
    '    if (r < 0) { printf("invalid: %s\\n", err); return 1; }',
    '    if (r == 0) { printf("absent %s\\n", argv[i]); continue; }',
    '    printf("%u %u %s %s [", (unsigned)u.uid, (unsigned)u.gid, u.name, u.group);',
    '    for (unsigned g = 0; g < u.n_groups; g++) printf("%s%u", g ? " " : "", (unsigned)u.groups[g]);',
    '    printf("] %s %s %s %d %llu %u %u\\n", u.home, u.shell, u.hostname, (int)u.network,',
    '           (unsigned long long)u.memory, (unsigned)u.pids, (unsigned)u.cpu);',
    '  }',
    '  return 0;',
    '}', '',
  ].join('\n'));
  const out = join(dir, 'policy-reader');
  const r = spawnSync('gcc', ['-std=gnu11', '-Wall', '-Wextra', `-I${helper}`, '-o', out, main,
    join(helper, 'policy.c'), join(helper, 'util.c'), join(helper, 'trust.c')], { encoding: 'utf8' });
  if (r.error) return { skip: `gcc is not available (${r.error.message})` };
  if (r.status !== 0) return { skip: `the helper's policy reader does not build right now: ${r.stderr.split('\n').find((l) => l.includes('error')) ?? r.stderr}` };
  return out;
}

test('policy.c accepts what formatCompiled writes and reads the same values', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-policy-c-'));
  try {
    const reader = buildCReader(dir);
    if (typeof reader !== 'string') {
      t.skip(reader.skip);
      return;
    }
    const text = formatCompiled([alice, bob], 'cross-check');
    const out = execFileSync(reader, ['1001', '1002', '1003'], { input: text, encoding: 'utf8' });
    assert.equal(out, [
      '1001 1001 alice alice [1001 27 100] /home/alice /bin/bash alice-box 0 2147483648 512 1500',
      '1002 100 bob.smith users [] /srv/home/bob.smith /usr/bin/zsh bob 1 0 0 0',
      'absent 1003', '',
    ].join('\n'));
    const tampered = spawnSync(reader, ['1001'], { input: text.replace('pids 512', 'pids 513'), encoding: 'utf8' });
    assert.match(tampered.stdout, /^invalid: checksum mismatch/);
    const unknown = spawnSync(reader, ['1001'], { input: withLine(14, 'cpu 1500\nswap 0'), encoding: 'utf8' });
    assert.match(unknown.stdout, /^invalid: line 15: unknown key or invalid value for "swap"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
