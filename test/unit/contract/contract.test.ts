// The contract between the TypeScript side and the helper (src/contract): the
// helper is built from it as it stands, and examples generated from it (every
// argv form helperArgs writes, the "started" message, a record at and past each
// bound) are read by the real C parsers (build/test-units) exactly as by Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BOUNDS,
  EXIT_CODES,
  FDS,
  HELPER_ARGV,
  LAYER_MODES,
  NETWORK_MODES,
  POLICY_FILE,
  RECORD_CHANGES,
  RECORD_KEYS,
  changeOf,
  RESERVED_ENV,
  RESTART_MODES,
  RLIMIT_KEYS,
  SECCOMP_PROFILES,
  STARTED,
  USER_MAY_KEYS,
} from '../../../src/contract/index.js';
import { helperArgs, parseStarted, type HelperRequest, type PtySpec } from '../../../src/helper-client/protocol.js';
import { parseRecord, recordLines, type CompiledUser } from '../../../src/policy/compiled.js';
import { assembleCompiled } from '../../../src/policy/compiled-file.js';
import { packageRoot } from '../../helpers/fixtures.js';

const testUnits = join(packageRoot(), 'build', 'test-units');
const skip = existsSync(testUnits) ? false : 'build/test-units is not built (npm test and test/run.sh build it)';
const c = (...args: string[]): string => execFileSync(testUnits, args, { encoding: 'utf8' });

test('the helper is built from the contract as it stands', { skip }, () => {
  const want = [
    `exit usage ${EXIT_CODES.usage} internal ${EXIT_CODES.internal} refused ${EXIT_CODES.refused} config ${EXIT_CODES.config}`,
    `policy ${POLICY_FILE.magic} ${POLICY_FILE.headLen} ${POLICY_FILE.indexEntryLen} ${POLICY_FILE.recordMaxBytes} ${POLICY_FILE.lineMax}`,
    `bounds ${Object.values(BOUNDS).join(' ')}`,
    `keys ${Object.keys(RECORD_KEYS).join(' ')}`,
    `network ${NETWORK_MODES.join(' ')}`,
    `layer ${LAYER_MODES.join(' ')}`,
    `restart ${RESTART_MODES.join(' ')}`,
    `seccomp ${SECCOMP_PROFILES.join(' ')}`,
    `rlimits ${RLIMIT_KEYS.join(' ')}`,
    `user_may ${USER_MAY_KEYS.join(' ')}`,
    `reserved_env ${RESERVED_ENV.join(' ')}`,
    `verbs ${HELPER_ARGV.verbs.join(' ')}`,
    `argv ${HELPER_ARGV.maxSets} ${HELPER_ARGV.setMaxBytes} ${HELPER_ARGV.ptyMaxDim} ${HELPER_ARGV.noticeMax}`,
    `fds ${FDS.channel} ${FDS.attachedStderr} ${FDS.agent}`,
    `started ${STARTED.word} ${STARTED.idHexLen} ${STARTED.created} ${STARTED.joined} ${STARTED.socketSuffix}`,
  ];
  assert.deepEqual(c('contract').trimEnd().split('\n'), want);
});

/** What the helper's parser reads of argv, in test-units' notation. */
function expectedRequest(
  req: HelperRequest,
  pty: PtySpec | undefined,
  agent: boolean,
  sets: readonly string[],
): string {
  const clamp = (n: number): number => Math.min(HELPER_ARGV.ptyMaxDim, Math.max(1, Math.floor(n) || 1));
  if (req.verb === 'stop')
    return (
      [`verb stop`, `uid ${req.uid}`, ...(req.notice === undefined ? [] : [`notice ${req.notice}`])].join('\n') + '\n'
    );
  return (
    [
      `verb ${req.verb}`,
      ...(pty ? [`pty ${pty.mask} ${clamp(pty.rows)} ${clamp(pty.cols)}`] : []),
      ...(agent ? ['agent'] : []),
      ...sets.map((s) => `set ${s}`),
      ...(req.verb === 'run' ? [`command ${req.command}`] : []),
    ].join('\n') + '\n'
  );
}

/** What the helper's parser reads of each argv (without argv[0]), in one run of test-units. */
function parseArgvs(argvs: readonly string[][]): string[] {
  for (const argv of argvs)
    assert.ok(
      argv.every((w) => !/[\n\x1f]/.test(w)),
      'a word test-units can carry',
    );
  const input = argvs.map((argv) => `${argv.join('\x1f')}\n`).join('');
  const out = execFileSync(testUnits, ['parse-args-batch'], { input, encoding: 'utf8' });
  return out.split('--\n').slice(0, -1);
}

test("every argv form helperArgs writes is read back by the helper's parser, field for field", { skip }, () => {
  const ptys: Array<PtySpec | undefined> = [
    undefined,
    { mask: 1, rows: 1, cols: 1 },
    { mask: 7, rows: HELPER_ARGV.ptyMaxDim, cols: HELPER_ARGV.ptyMaxDim },
    { mask: 3, rows: 24, cols: 80 },
    { mask: 4, rows: HELPER_ARGV.ptyMaxDim + 50, cols: 0 },
  ];
  const setLists: string[][] = [
    [],
    ['pids=5'],
    Array.from({ length: HELPER_ARGV.maxSets }, (_, i) => `env=V${i}=x`),
    [`hostname=${'h'.repeat(HELPER_ARGV.setMaxBytes - 'hostname='.length)}`],
  ];
  const requests: HelperRequest[] = [
    { verb: 'login' },
    ...['true', '--pty', '--set', '--agent', 'a b; c "d"', '-'].map((command) => ({ verb: 'run' as const, command })),
  ];
  const cases: Array<{ argv: string[]; want: string }> = [];
  for (const req of requests) {
    for (const pty of ptys) {
      for (const agent of [false, true]) {
        for (const sets of setLists)
          cases.push({ argv: helperArgs(req, pty, agent, sets), want: expectedRequest(req, pty, agent, sets) });
      }
    }
  }
  for (const req of [
    { verb: 'stop', uid: 1000 },
    { verb: 'stop', uid: 4294967294, notice: 'n'.repeat(HELPER_ARGV.noticeMax) },
    { verb: 'ports' },
  ] as const) {
    cases.push({ argv: helperArgs(req), want: expectedRequest(req, undefined, false, []) });
  }
  assert.equal(cases.length, 7 * 5 * 2 * 4 + 3);
  const got = parseArgvs(cases.map((k) => k.argv));
  for (const [i, k] of cases.entries()) assert.equal(got[i], k.want, k.argv.join(' ').slice(0, 120));
});

test("argv one past each of the contract's bounds is refused by the helper, and helperArgs never writes it", {
  skip,
}, () => {
  const refused = (argv: string[]): void =>
    assert.match(parseArgvs([argv])[0]!, /^error /, argv.join(' ').slice(0, 80));
  refused(['run', ...Array.from({ length: HELPER_ARGV.maxSets + 1 }, () => ['--set', 'pids=1']).flat(), 'true']);
  assert.throws(
    () => helperArgs({ verb: 'run', command: 'true' }, undefined, false, Array(HELPER_ARGV.maxSets + 1).fill('pids=1')),
    RangeError,
  );
  refused(['run', '--set', `hostname=${'h'.repeat(HELPER_ARGV.setMaxBytes - 'hostname='.length + 1)}`, 'true']);
  refused(['login', '--pty', `1:${HELPER_ARGV.ptyMaxDim + 1}x80`]);
  refused(['login', '--pty', '8:24x80']);
  assert.throws(() => helperArgs({ verb: 'login' }, { mask: 8, rows: 24, cols: 80 }), RangeError);
  refused(['stop', '1000', '--notice', 'n'.repeat(HELPER_ARGV.noticeMax + 1)]);
  refused(['stop', '0']);
  refused(['ports', '60001']);
  refused(['start']);
});

test('"started" messages are read alike by Node and by the launcher\'s agent relay', { skip }, () => {
  const id = (seed: string): string => seed.repeat(STARTED.idHexLen).slice(0, STARTED.idHexLen);
  const [session, container] = [id('0123456789abcdef'), id('fedcba9876543210')];
  for (const how of [STARTED.created, STARTED.joined]) {
    const socket = `1764850000000-${session}${STARTED.socketSuffix}`;
    const withSocket = `${STARTED.word} ${session} ${container} ${how} ${socket}`;
    assert.deepEqual(parseStarted(withSocket), {
      session,
      container,
      created: how === STARTED.created,
      agentSocket: socket,
    });
    assert.equal(c('parse-started', withSocket), `session ${session} socket ${socket}\n`);
    // Without --agent there is no socket: Node reads it, the relay (only ever started with --agent) does not.
    const plain = `${STARTED.word} ${session} ${container} ${how}`;
    assert.deepEqual(parseStarted(plain), {
      session,
      container,
      created: how === STARTED.created,
      agentSocket: undefined,
    });
    assert.equal(c('parse-started', plain), 'refused\n');
  }
  const bad = [
    `${STARTED.word} ${session.slice(1)} ${container} ${STARTED.created} 1-${session.slice(1)}${STARTED.socketSuffix}`,
    `${STARTED.word} ${session}0 ${container} ${STARTED.created} 1-${session}0${STARTED.socketSuffix}`,
    `${STARTED.word} ${session.toUpperCase()} ${container} ${STARTED.created} 1-${session.toUpperCase()}${STARTED.socketSuffix}`,
    `${STARTED.word} ${session} ${container} ${STARTED.created} 1-${container}${STARTED.socketSuffix}`,
    `${STARTED.word} ${session} ${container} ${STARTED.created} 1-${session}.sok`,
    `${STARTED.word} ${session} ${container} restarted 1-${session}${STARTED.socketSuffix}`,
    `begun ${session} ${container} ${STARTED.created} 1-${session}${STARTED.socketSuffix}`,
    `${STARTED.word} ${session} ${container} ${STARTED.created} -${session}${STARTED.socketSuffix}`,
  ];
  for (const m of bad) {
    assert.equal(parseStarted(m), undefined, m);
    assert.equal(c('parse-started', m), 'refused\n', m);
  }
});

/** A record every bound leaves room around. */
const base: CompiledUser = {
  uid: 1001,
  gid: 1001,
  name: 'alice',
  group: 'alice',
  groups: [1001],
  home: '/home/alice',
  shell: '/bin/sh',
  hostname: 'alice',
  network: 'none',
  memory: 1 << 30,
  memory_high: 0,
  swap: 0,
  pids: 100,
  cpu: 1000,
  io_weight: 0,
  io: [],
  nofile: { soft: 1024, hard: 4096 },
  nproc: { soft: 'max', hard: 'max' },
  core: { soft: 0, hard: 'max' },
  env: [],
  restart: 'idle',
  user_may: [],
  seccomp: 'default',
  nested_userns: false,
  udp_ports: [0, 0],
  image: 'host',
  layer: { mode: 'temporary', bytes: 0 },
  root: 'none',
};

/** Values of each key at the contract's bounds (good) and one past them (bad), as the record's text. */
function examples(): Array<{ key: keyof typeof RECORD_KEYS; value: string; good: boolean }> {
  const B = BOUNDS;
  const out: Array<{ key: keyof typeof RECORD_KEYS; value: string; good: boolean }> = [];
  const add = (
    key: keyof typeof RECORD_KEYS,
    good: readonly (string | number)[],
    bad: readonly (string | number)[],
  ): void => {
    for (const v of good) out.push({ key, value: String(v), good: true });
    for (const v of bad) out.push({ key, value: String(v), good: false });
  };
  const word = (n: number, ch = 'a'): string => ch.repeat(n);
  add('name', [word(B.nameMaxLen)], [word(B.nameMaxLen + 1), '']);
  add('group', [word(B.nameMaxLen)], [word(B.nameMaxLen + 1)]);
  add('gid', [0, 4294967294], [4294967295, -1, '01']);
  const gids = (n: number): string => Array.from({ length: n }, (_, i) => 1000 + i).join(' ');
  add('groups', ['', gids(B.maxGroups)], [gids(B.maxGroups + 1)]);
  add('home', [`/${word(B.pathMaxLen - 1)}`], [`/${word(B.pathMaxLen)}`, 'home']);
  add('shell', [`/${word(B.pathMaxLen - 1)}`], [`/${word(B.pathMaxLen)}`]);
  add('hostname', [word(B.hostnameMaxLen, 'h')], [word(B.hostnameMaxLen + 1, 'h')]);
  add('network', NETWORK_MODES, ['wifi', '']);
  add('memory', [0, B.memoryMin, 2 ** 53 - 1], [(2n ** 62n) as unknown as number, -1]);
  add('memory_high', [0], [(2n ** 62n) as unknown as number]);
  add('swap', [0, 'max'], ['unlimited']);
  add('pids', [0, B.pidsMax], [B.pidsMax + 1]);
  add('cpu', [0, B.cpuMin, B.cpuMax], [B.cpuMin - 1, B.cpuMax + 1]);
  add('io_weight', [0, B.ioWeightMin, B.ioWeightMax], [B.ioWeightMax + 1]);
  const devices = (n: number, major = 8): string =>
    Array.from({ length: n }, (_, i) => `${major}:${i} 1 2 3 4`).join(' ');
  add(
    'io',
    ['', devices(B.maxIoDevices), `${B.majorMax}:${B.minorMax} 0 0 0 0`],
    [devices(B.maxIoDevices + 1), `${B.majorMax + 1}:0 0 0 0 0`, `8:${B.minorMax + 1} 0 0 0 0`, '8:0 1 2 3'],
  );
  add('nofile', [`${B.nofileMin} ${B.nofileMin}`, 'max max'], [`${B.nofileMin - 1} 4096`, 'max 4096', '5000 4096']);
  for (const k of ['nproc', 'core'] as const) add(k, ['0 0', '1 max', 'max max'], ['2 1', 'max 1', '1']);
  const vars = (n: number): string => Array.from({ length: n }, (_, i) => `V${i}=x`).join(' ');
  add(
    'env',
    ['', vars(B.envMax), `${word(B.envNameMax, 'N')}=1`, `V=${word(B.envValueMax, 'v')}`],
    [
      vars(B.envMax + 1),
      `${word(B.envNameMax + 1, 'N')}=1`,
      `V=${word(B.envValueMax + 1, 'v')}`,
      ...RESERVED_ENV.map((n) => `${n}=x`),
    ],
  );
  add('restart', RESTART_MODES, ['never']);
  add('user_may', ['', USER_MAY_KEYS.join(' '), ...USER_MAY_KEYS], ['io', 'image', 'shell shell']);
  add('seccomp', SECCOMP_PROFILES, ['none']);
  add('nested_userns', ['true', 'false'], ['yes']);
  // The base record's network is none, so any published port is refused too.
  add(
    'udp_ports',
    ['0 0'],
    [
      `${B.udpPortMin - 1} ${B.udpPortMin}`,
      `60000 ${60000 + B.udpPortsMax}`,
      '60010 60001',
      '65535 65536',
      '60001 60001',
      '0',
    ],
  );
  const hex = 'a'.repeat(64);
  add(
    'image',
    ['host', `${word(B.imageNameMax, 'd')} ${hex}`, `debian-12.x_y ${hex}`],
    [
      '',
      `host ${hex}`,
      `${word(B.imageNameMax + 1, 'd')} ${hex}`,
      `Debian ${hex}`,
      `-debian ${hex}`,
      `debian ${'A'.repeat(64)}`,
      `debian ${hex.slice(1)}`,
      `debian ${hex} x`,
      'debian',
    ],
  );
  const t = 'temporary';
  add(
    'layer',
    [`${t} 0`, `${t} ${B.diskMin}`, `persistent ${B.diskMin}`, `persistent ${2 ** 53 - 1}`],
    [
      '',
      `${t}`,
      `${t} ${B.diskMin - 1}`,
      'persistent 0',
      `persistent 0${B.diskMin}`,
      `persistent ${(2n ** 62n).toString()}`,
      `kept ${B.diskMin}`,
      `${t} ${B.diskMin} x`,
      `${t}  ${B.diskMin}`,
    ],
  );
  // The base record is uid and gid 1001, with the host image: root is refused with it.
  const last = 2 ** 32 - 1 - B.idRange;
  add(
    'root',
    ['none'],
    [
      '100000 100000 200000 200000',
      '',
      'yes',
      `${last + 1} 100000 200000 200000`,
      '0 100000 200000 200000',
      '100000 100000 200000',
      '0100000 100000 200000 200000',
    ],
  );
  return out;
}

test("a record at each of the contract's bounds is read alike by policy.c and Node; one past it is refused by both", {
  skip,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-contract-'));
  try {
    const cases = examples().map((e, i) => {
      const uid = 2000 + i;
      const lines = recordLines({ ...base, uid }).map((l) => (l.startsWith(`${e.key} `) ? `${e.key} ${e.value}` : l));
      let fromNode: string;
      try {
        fromNode = `${recordLines(parseRecord(lines, 1)).join('\n')}\n`;
      } catch {
        fromNode = 'refused';
      }
      return { ...e, uid, lines, fromNode };
    });
    const file = join(dir, 'policy');
    writeFileSync(
      file,
      assembleCompiled(
        cases.map((k) => `${k.lines.join('\n')}\n`),
        'contract',
      ),
    );
    const fromC = execFileSync(testUnits, ['parse-policy', file, ...cases.map((k) => String(k.uid))], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    }).split('--\n');
    assert.equal(fromC.length, cases.length);
    cases.forEach((k, i) => {
      const what = `${k.key} ${k.value.length > 60 ? `${k.value.slice(0, 60)}...` : k.value}`;
      if (k.good) {
        assert.equal(k.fromNode, `${k.lines.join('\n')}\n`, `Node reads ${what}`);
        assert.equal(fromC[i], k.fromNode, `policy.c reads ${what} as Node does`);
      } else {
        assert.equal(k.fromNode, 'refused', `Node refuses ${what}`);
        assert.match(fromC[i]!, /^error /, `policy.c refuses ${what}`);
      }
    });
    assert.deepEqual(
      [...new Set(cases.map((k) => k.key))].sort(),
      Object.keys(RECORD_KEYS).sort(),
      'every key has examples',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a change of each record key reaches a running container as the contract says, in drift.c as in Node', {
  skip,
}, () => {
  // One change per key, and both directions of the keys whose class depends on it.
  const changes: Array<Partial<CompiledUser>> = [
    { name: 'alicia' },
    { gid: 2002 },
    { group: 'staff' },
    { groups: [] },
    { home: '/srv/alice' },
    { shell: '/bin/bash' },
    { hostname: 'box' },
    { network: 'host' },
    { memory: 2 ** 31 },
    { memory_high: 1 << 29 },
    { swap: 'max' },
    { pids: 50 },
    { cpu: 500 },
    { io_weight: 200 },
    { io: [{ major: 8, minor: 0, rbps: 1, wbps: 0, riops: 0, wiops: 0 }] },
    { nofile: { soft: 64, hard: 64 } },
    { nproc: { soft: 10, hard: 10 } },
    { core: { soft: 0, hard: 0 } },
    { env: [['A', 'b']] },
    { restart: 'manual' },
    { user_may: ['shell'] },
    { seccomp: 'strict' },
    { seccomp: 'unconfined' },
    { nested_userns: true },
    { image: { name: 'debian', id: 'b'.repeat(64) } },
    { layer: { mode: 'persistent', bytes: 2 ** 30 } },
  ];
  const pairs: Array<[CompiledUser, CompiledUser]> = changes.map((c) => [base, { ...base, ...c }]);
  // Every other pair of network modes, both ways: less network takes access away.
  for (const a of NETWORK_MODES)
    for (const b of NETWORK_MODES)
      if (a !== b && !(a === 'none' && b === 'host'))
        pairs.push([
          { ...base, network: a },
          { ...base, network: b },
        ]);
  pairs.push([{ ...base, nested_userns: true }, base]);
  // Root inside comes only with an image.
  const debian = { ...base, image: { name: 'debian', id: 'b'.repeat(64) } };
  pairs.push([debian, { ...debian, root: { subUid: 165536, subGid: 165536, storeUid: 100000, storeGid: 100000 } }]);
  // Published ports come only with a private network.
  pairs.push([
    { ...base, network: 'private' },
    { ...base, network: 'private', udp_ports: [60001, 60002] },
  ]);
  const changed = pairs.flatMap(([made, now]) =>
    (Object.keys(RECORD_KEYS) as Array<keyof typeof RECORD_KEYS>).filter(
      (k) => JSON.stringify(made[k]) !== JSON.stringify(now[k]),
    ),
  );
  assert.deepEqual(
    [...new Set(changed)].sort(),
    Object.keys(RECORD_KEYS)
      .filter((k) => k !== 'uid')
      .sort(),
    'every key is changed once',
  );
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-drift-'));
  try {
    const file = join(dir, 'policy');
    const users = pairs.flatMap(([made, now], i) => [
      { ...made, uid: 3000 + 2 * i },
      { ...now, uid: 3001 + 2 * i },
    ]);
    writeFileSync(
      file,
      assembleCompiled(
        users.map((u) => `${recordLines(u).join('\n')}\n`),
        'drift',
      ),
    );
    const seen = new Set<string>();
    pairs.forEach(([made, now], i) => {
      const key = (Object.keys(RECORD_KEYS) as Array<keyof typeof RECORD_KEYS>).find(
        (k) => JSON.stringify(made[k]) !== JSON.stringify(now[k]),
      )!;
      const change = changeOf(key, made, now);
      seen.add(change);
      const waits = change === 'restart' || change === 'access';
      const want = `pending ${waits ? RECORD_CHANGES[key].label : ''}\naccess ${change === 'access' ? 1 : 0}\n`;
      assert.equal(
        c('drift', file, String(3000 + 2 * i), String(3001 + 2 * i)),
        want,
        `${key}: ${String(made[key])} -> ${String(now[key])}`,
      );
    });
    assert.deepEqual([...seen].sort(), ['access', 'live', 'restart', 'session'], 'every kind of change is tried');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
