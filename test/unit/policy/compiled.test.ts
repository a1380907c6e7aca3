// The compiled format (src/helper/policy.h): writer and reader round-trip, the
// reader refuses what policy.c refuses, and policy.c itself accepts what the
// writer produces (built from source with gcc when available).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assembleCompiled,
  CompiledPolicyError,
  fnv1a64,
  formatCompiled,
  lookupCompiled,
  parseCompiled,
  type CompiledUser,
} from '../../../src/policy/index.js';
import { packageRoot } from '../../helpers/fixtures.js';

const alice: CompiledUser = {
  uid: 1001,
  gid: 1001,
  name: 'alice',
  group: 'alice',
  groups: [1001, 27, 100],
  home: '/home/alice',
  shell: '/bin/bash',
  hostname: 'alice-box',
  network: 'none',
  memory: 2147483648,
  memory_high: 1073741824,
  swap: 0,
  pids: 512,
  cpu: 1500,
  io_weight: 50,
  io: [
    { major: 8, minor: 0, rbps: 1048576, wbps: 0, riops: 0, wiops: 100 },
    { major: 259, minor: 16, rbps: 0, wbps: 2097152, riops: 7, wiops: 0 },
  ],
  nofile: { soft: 1024, hard: 524288 },
  nproc: { soft: 'max', hard: 'max' },
  core: { soft: 0, hard: 'max' },
  env: [
    ['http_proxy', 'http://proxy:3128'],
    ['GREETING', 'grüß dich; 100% "sure"'],
  ],
  restart: 'manual',
  user_may: ['hostname', 'env', 'memory'],
  seccomp: 'strict',
  nested_userns: false,
  udp_ports: [0, 0],
  image: 'host',
  layer: { mode: 'temporary', bytes: 0 },
  root: 'none',
};
const bob: CompiledUser = {
  uid: 1002,
  gid: 100,
  name: 'bob.smith',
  group: 'users',
  groups: [],
  home: '/srv/home/bob.smith',
  shell: '/usr/bin/zsh',
  hostname: 'bob',
  network: 'host',
  memory: 0,
  memory_high: 0,
  swap: 'max',
  pids: 0,
  cpu: 0,
  io_weight: 0,
  io: [],
  nofile: { soft: 64, hard: 64 },
  nproc: { soft: 10, hard: 20 },
  core: { soft: 'max', hard: 'max' },
  env: [],
  restart: 'idle',
  user_may: [],
  seccomp: 'default',
  nested_userns: true,
  udp_ports: [0, 0],
  image: 'host',
  layer: { mode: 'temporary', bytes: 0 },
  root: 'none',
};

// Line numbers in a one-record file: 1 magic, 2 index header, 3 index line, 4 comment,
// 5 user ... 30 end, 31 checksum.
const L = {
  user: 5,
  name: 6,
  gid: 7,
  group: 8,
  groups: 9,
  home: 10,
  shell: 11,
  hostname: 12,
  network: 13,
  memory: 14,
  memory_high: 15,
  swap: 16,
  pids: 17,
  cpu: 18,
  io_weight: 19,
  io: 20,
  nofile: 21,
  nproc: 22,
  core: 23,
  env: 24,
  restart: 25,
  user_may: 26,
  seccomp: 27,
  nested_userns: 28,
  udp_ports: 29,
  image: 30,
  layer: 31,
  root: 32,
  end: 33,
  checksum: 34,
};

/** Records text cut after each "end" line (policy_build's chunks in policy-build.c). */
function chunks(records: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const line of records.split('\n').slice(0, -1)) {
    cur += `${line}\n`;
    if (line === 'end') [out[out.length], cur] = [cur, ''];
  }
  return cur ? [...out, cur] : out;
}

/** A valid file with one line replaced (1-based, counting the magic line), its
 * index and checksum written again around the records. */
function withLine(lineno: number, replacement: string | null, users: CompiledUser[] = [alice]): string {
  const lines = formatCompiled(users, 'test').split('\n').slice(0, -2);
  if (replacement === null) lines.splice(lineno - 1, 1);
  else lines[lineno - 1] = replacement;
  const first = 3 + users.length; // magic, index header, index lines, comment
  return assembleCompiled(chunks(`${lines.slice(first).join('\n')}\n`), 'test');
}

/** Recompute the checksum of a body (everything before the checksum line). */
function resign(body: string): string {
  return `${body}checksum ${fnv1a64(Buffer.from(body))}\n`;
}

/** The body of a file (without its checksum line). */
function body(text: string): string {
  return text.slice(0, text.lastIndexOf('checksum '));
}

function rejects(text: string | Buffer, line: number, message: RegExp): void {
  assert.throws(
    () => parseCompiled(text),
    (err: unknown) => {
      assert.ok(err instanceof CompiledPolicyError, String(err));
      assert.equal(err.line, line, err.message);
      assert.match(err.message, message);
      assert.equal(err.exitCode, 78);
      return true;
    },
  );
}

test('the writer produces exactly the documented layout', () => {
  const text = formatCompiled([alice], 'written by a test');
  const lines = text.split('\n');
  assert.deepEqual(lines.slice(0, 2), ['cellsh-policy 5', 'index 0000000001']);
  const [uid, offset, length, hash] = lines[2]!.split(' ');
  assert.deepEqual([uid, offset!.length, length!.length], ['0000001001', 16, 8]);
  const record = Buffer.from(text).subarray(Number(offset), Number(offset) + Number(length));
  assert.ok(
    record.toString().startsWith('user 1001\n') && record.toString().endsWith('\nend\n'),
    'the index line points at the record',
  );
  assert.equal(hash, fnv1a64(record), "the index line carries the record's hash");
  assert.deepEqual(lines.slice(3, -2), [
    '# written by a test',
    'user 1001',
    'name alice',
    'gid 1001',
    'group alice',
    'groups 1001 27 100',
    'home /home/alice',
    'shell /bin/bash',
    'hostname alice-box',
    'network none',
    'memory 2147483648',
    'memory_high 1073741824',
    'swap 0',
    'pids 512',
    'cpu 1500',
    'io_weight 50',
    'io 8:0 1048576 0 0 100 259:16 0 2097152 7 0',
    'nofile 1024 524288',
    'nproc max max',
    'core 0 max',
    'env http_proxy=http://proxy:3128 GREETING=gr%C3%BC%C3%9F%20dich%3B%20100%25%20%22sure%22',
    'restart manual',
    'user_may hostname env memory',
    'seccomp strict',
    'nested_userns false',
    'udp_ports 0 0',
    'image host',
    'layer temporary 0',
    'root none',
    'end',
  ]);
  assert.match(lines.at(-2)!, /^checksum [0-9a-f]{16}$/);
  assert.equal(lines.at(-1), '');
});

test('FNV-1a 64 matches the reference vectors and a 64-bit reference on random bytes', () => {
  assert.equal(fnv1a64(Buffer.from('')), 'cbf29ce484222325');
  assert.equal(fnv1a64(Buffer.from('a')), 'af63dc4c8601ec8c');
  assert.equal(fnv1a64(Buffer.from('foobar')), '85944171f73967e8');
  const reference = (bytes: Uint8Array): string => {
    let h = 0xcbf29ce484222325n;
    for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
    return h.toString(16).padStart(16, '0');
  };
  for (let n = 0; n < 200; n++) {
    const bytes = randomBytes(n * 7);
    assert.equal(fnv1a64(bytes), reference(bytes), bytes.toString('hex'));
  }
});

test('format -> parse gives back the same records (empty groups too)', () => {
  assert.deepEqual(parseCompiled(formatCompiled([alice, bob], 'two users\nand a second comment line')), [alice, bob]);
  assert.deepEqual(parseCompiled(formatCompiled([], '')), []);
  assert.ok(formatCompiled([bob], 'x').includes('\ngroups \n'));
  assert.ok(formatCompiled([bob], 'x').includes('\nio \n'));
});

test('the reader refuses a bad magic line, and the format before the index (version 4)', () => {
  rejects(formatCompiled([alice], 'x').replace('cellsh-policy 5', 'cellsh-policy 2'), 1, /expected "cellsh-policy 5"/);
  rejects(formatCompiled([alice], 'x').replace('cellsh-policy 5', 'cellsh-policy 4'), 1, /expected "cellsh-policy 5"/);
  rejects('', 1, /expected "cellsh-policy 5"/);
});

test('the reader refuses a changed byte (bad checksum)', () => {
  const text = formatCompiled([alice], 'x').replace('memory 2147483648', 'memory 4147483648');
  rejects(text, L.checksum, /checksum mismatch/);
  rejects(
    formatCompiled([alice], 'x').replace(/checksum .*/, 'checksum 0123'),
    L.checksum,
    /not "checksum <16 hex digits>"/,
  );
  rejects(formatCompiled([alice], 'x').slice(0, -1), 0, /does not end with a newline/);
});

test('the reader refuses a duplicate key', () => {
  rejects(withLine(L.name, 'name alice\nname alice'), L.name + 1, /"name" appears twice/);
});

test('the reader refuses a missing key', () => {
  rejects(withLine(L.cpu, null), L.end - 1, /the record for uid 1001 misses "cpu"/);
  rejects(withLine(L.core, null), L.end - 1, /the record for uid 1001 misses "core"/);
  rejects(withLine(L.end, null), L.user, /the record for uid 1001 has no "end"/);
});

test('the reader refuses an unknown key, and "end" with a value', () => {
  rejects(withLine(L.cpu, 'cpu 1500\ncpus 1'), L.cpu + 1, /unknown key "cpus"/);
  rejects(withLine(L.end, 'end '), L.end, /unknown key "end"/);
});

test('the reader refuses uid 0 and duplicate uids', () => {
  // Without a uid the record gets no index line, so it starts one line earlier.
  rejects(withLine(L.user, 'user 0'), L.user - 1, /uid 0 is never served/);
  rejects(withLine(L.user, 'user 01001'), L.user - 1, /expected "user <uid>"/);
  const twice = formatCompiled([alice, { ...bob, uid: 1003 }], 'x');
  rejects(
    assembleCompiled(
      chunks(twice.slice(twice.indexOf('user 1001'), twice.indexOf('checksum ')).replace('user 1003', 'user 1001')),
      'x',
    ),
    4,
    /uid 1001 is not above the previous record's 1001/,
  );
});

test('the reader refuses an index that does not list exactly the records that follow it', () => {
  const text = formatCompiled([alice, bob], 'x');
  const entry = text.split('\n')[3]!;
  const moved = entry.replace(/ (\d{16}) /, (_, n: string) => ` ${String(Number(n) + 1).padStart(16, '0')} `);
  rejects(
    resign(body(text).replace(entry, moved)),
    4,
    /the index line for uid 1002 does not match the record at line 35/,
  );
  const rehashed = entry.slice(0, -16) + '0'.repeat(16);
  rejects(resign(body(text).replace(entry, rehashed)), 4, /does not match/);
  rejects(resign(body(text).replace('index 0000000002', 'index 0000000003')), 5, /not an index line/);
  rejects(resign(body(text).replace('index 0000000002', 'index 0999999999')), 2, /the file ends inside it/);
  const unlisted = assembleCompiled(
    [...chunks(body(text).slice(body(text).indexOf('user 1001'))), 'user 0\nend\n'],
    'x',
  );
  rejects(unlisted, 64, /uid 0 is never served/); // after magic, index (3), comment and two records of 29 lines
  rejects(resign(body(text).replace(entry, entry.replace('0000001002', 'x000001002'))), 4, /not an index line/);
});

test("the reader applies the helper's value rules", () => {
  const bad: Array<[number, string, RegExp]> = [
    [L.name, 'name -alice', /invalid value for "name"/],
    [L.name, `name ${'a'.repeat(33)}`, /invalid value for "name"/],
    [L.gid, 'gid 4294967295', /invalid value for "gid"/],
    [L.gid, 'gid -1', /invalid value for "gid"/],
    [L.groups, `groups ${Array.from({ length: 65 }, (_, i) => i + 1).join(' ')}`, /invalid value for "groups"/],
    [L.groups, 'groups 1 x', /invalid value for "groups"/],
    [L.home, 'home /home//alice', /invalid value for "home"/],
    [L.home, 'home home/alice', /invalid value for "home"/],
    [L.hostname, 'hostname -x', /invalid value for "hostname"/],
    [L.network, 'network bridge', /invalid value for "network"/],
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
  rejects(
    withLine(L.nested_userns, 'nested_userns true'),
    L.end,
    /the record for uid 1001 sets nested_userns with seccomp strict/,
  );
  assert.throws(
    () => formatCompiled([{ ...alice, nested_userns: true }], 'x'),
    /nested_userns: never true with seccomp strict/,
  );
  assert.deepEqual(parseCompiled(withLine(L.seccomp, 'seccomp unconfined'))[0]!.seccomp, 'unconfined');
  const nested = parseCompiled(formatCompiled([{ ...alice, seccomp: 'default', nested_userns: true }], 'x'))[0]!;
  assert.deepEqual([nested.seccomp, nested.nested_userns], ['default', true]);
});

test('the reader refuses NUL bytes and long lines', () => {
  rejects(Buffer.from(formatCompiled([alice], 'x').replace('# x', '# \0')), 0, /NUL byte/);
  rejects(resign(body(formatCompiled([alice], 'x')).replace('# x', `# ${'x'.repeat(1022)}`)), 4, /too long/);
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
  assert.match(
    readByC(text.replace('pids 512', 'pids 513'), 1001),
    /^error the record of uid 1001 does not match its hash/,
  );
  assert.match(
    readByC(withLine(L.cpu, 'cpu 1500\ncpus 1'), 1001),
    /^error the record for uid 1001 has an unknown key "cpus"/,
  );
  for (const [line, replacement] of [
    [L.env, 'env A=%0A'],
    [L.env, 'env SHELL=/bin/sh'],
    [L.user_may, 'user_may io'],
    [L.restart, 'restart never'],
    [L.seccomp, 'seccomp none'],
    [L.nested_userns, 'nested_userns yes'],
  ] as const) {
    assert.match(
      readByC(withLine(line, replacement), 1001),
      /^error the record for uid 1001 has an invalid value/,
      replacement,
    );
  }
  assert.match(
    readByC(withLine(L.nested_userns, 'nested_userns true'), 1001),
    /^error the record for uid 1001 sets nested_userns with seccomp strict/,
  );
  assert.match(
    readByC(formatCompiled([alice], 'x').replace('cellsh-policy 5', 'cellsh-policy 4'), 1001),
    /^error line 1: expected "cellsh-policy 5"/,
  );
});

/** n made-up users with uids spread out (gaps between them), every field from alice. */
function many(n: number): CompiledUser[] {
  return Array.from({ length: n }, (_, i) => ({
    ...alice,
    uid: 2000 + i * 3,
    name: `u${i}`,
    home: `/home/u${i}`,
    hostname: `h${i}`,
  }));
}

test('a look-up finds every user and no other, in Node and in policy.c alike', { skip: noUnits }, () => {
  const users = many(300);
  const text = formatCompiled(users, 'many');
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-policy-lookup-'));
  try {
    const file = join(dir, 'policy');
    writeFileSync(file, text);
    for (const uid of [1, 1999, 2000, 2001, 2003, 2450, 2451, 2897, 2898, 4294967294, 0]) {
      const want = users.find((u) => u.uid === uid);
      assert.deepEqual(lookupCompiled(file, uid), want, `Node, uid ${uid}`);
      const c = execFileSync(testUnits, ['parse-policy', file, String(uid)], { encoding: 'utf8' });
      assert.equal(
        c === 'absent\n' ? undefined : Number(/^user (\d+)/.exec(c)?.[1]),
        want?.uid,
        `policy.c, uid ${uid}: ${c}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a look-up reads only its own record: damage elsewhere is left to cellsh-admin's full check", () => {
  const text = formatCompiled(many(3), 'x');
  // The middle record's hash no longer matches: the whole-file reader refuses,
  // a look-up of it refuses, a look-up of the others is served.
  const damaged = resign(body(text).replace('hostname h1\n', 'hostname hX\n'));
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-policy-lookup-'));
  try {
    const file = join(dir, 'policy');
    writeFileSync(file, damaged);
    assert.throws(() => parseCompiled(damaged), /does not match/);
    assert.throws(() => lookupCompiled(file, 2003), /does not match its hash/);
    assert.equal(lookupCompiled(file, 2000)?.name, 'u0');
    assert.equal(lookupCompiled(file, 2006)?.name, 'u2');
    writeFileSync(file, resign(body(text).replace('index 0000000003', 'index 0999999999')));
    assert.throws(() => lookupCompiled(file, 2000), /the file ends inside it/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
