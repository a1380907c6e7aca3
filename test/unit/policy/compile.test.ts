// From the resolved policy to the helper's records: who is compiled, and the
// account facts each record carries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatCompiled } from '../../../src/policy/index.js';
import type { IdClaims, PolicyEnv } from '../../../src/policy/resolve.js';
import { buildText, fixturePath, problemsOf, sampleEnv, tableDirectory, type UserRow } from '../../helpers/fixtures.js';

const G = 2 ** 30;
/** The built-in defaults of the keys the fixture leaves alone. */
const REST = {
  memory_high: 0,
  swap: 0,
  io_weight: 0,
  io: [],
  nofile: { soft: 1024, hard: 524288 },
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
} as const;

test('enrolled users and users named in the policy are compiled, sorted by uid, without the enrolment group', () => {
  const built = buildText(readFileSync(fixturePath('policy', 'valid-full', 'policy.yaml'), 'utf8'));
  assert.deepEqual(built.diagnostics, []);
  assert.deepEqual(built.users, [
    {
      uid: 1001,
      gid: 1001,
      name: 'alice',
      group: 'alice',
      groups: [1001, 950],
      home: '/home/alice',
      shell: '/usr/bin/zsh',
      hostname: 'alice-box-1001',
      network: 'host',
      memory: 0,
      pids: 0,
      cpu: 0,
      ...REST,
    },
    {
      uid: 1002,
      gid: 1002,
      name: 'bob',
      group: 'bob',
      groups: [1002],
      home: '/home/bob',
      shell: '/bin/bash',
      hostname: 'bob',
      network: 'none',
      memory: 2 * G,
      pids: 512,
      cpu: 1500,
      ...REST,
    },
  ]);
});

test('a listed user who is not enrolled is compiled too (with a warning)', () => {
  const built = buildText('users:\n  carol:\n    limits: {memory: 1G}\n');
  assert.deepEqual(
    built.users.map((u) => [u.name, u.memory]),
    [
      ['alice', 2 * G],
      ['bob', 2 * G],
      ['carol', G],
    ],
  );
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

test("a listed user's account problem is located at their entry", () => {
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
  const env = {
    ...sampleEnv(),
    dir: tableDirectory([{ name: 'root', uid: 0, gid: 0, groups: ['cellsh'] }], { root: 0, cellsh: 900 }),
  };
  const built = buildText('', env);
  assert.deepEqual(built.users, []);
  assert.deepEqual(
    built.diagnostics.map((d) => [d.severity, d.message]),
    [['warning', 'root (uid 0) is in the "cellsh" group, but root is never served by cellsh; left out']],
  );
});

test('two names with one uid are an error', () => {
  const env = {
    ...sampleEnv(),
    dir: tableDirectory(
      [
        { name: 'dan', uid: 1020, gid: 900 },
        { name: 'dan2', uid: 1020, gid: 900 },
      ],
      { cellsh: 900 },
    ),
  };
  assert.deepEqual(problemsOf('', env), [
    'policy.yaml: users dan and dan2 share uid 1020; cellsh serves one name per uid',
  ]);
});

test('unlimited limits compile to 0', () => {
  const built = buildText('defaults:\n  limits: {memory: unlimited, pids: unlimited, cpu: unlimited}\n');
  assert.deepEqual(
    built.users.map((u) => [u.memory, u.pids, u.cpu]),
    [
      [0, 0, 0],
      [0, 0, 0],
    ],
  );
});

test("the limits and rlimits reach the record in the helper's units", () => {
  const built = buildText(
    [
      'users:',
      '  alice:',
      '    limits:',
      '      memory: 1G',
      '      memory_high: 768M',
      '      swap: unlimited',
      '      io_weight: 50',
      '      io:',
      '        - {device: /dev/sda1, read_bps: 10M, write_iops: 200}',
      '        - {device: /dev/nvme0n1, write_bps: 1M}',
      '    rlimits: {nofile: 4096, nproc: {soft: 100, hard: 200}, core: unlimited}',
      '',
    ].join('\n'),
  );
  assert.deepEqual(built.diagnostics, []);
  const alice = built.users.find((u) => u.name === 'alice')!;
  assert.deepEqual(
    { ...alice, uid: 0, gid: 0, name: '', group: '', groups: [], home: '', shell: '', hostname: '', network: 'none' },
    {
      uid: 0,
      gid: 0,
      name: '',
      group: '',
      groups: [],
      home: '',
      shell: '',
      hostname: '',
      network: 'none',
      memory: G,
      memory_high: 768 * 2 ** 20,
      swap: 'max',
      pids: 512,
      cpu: 1500,
      io_weight: 50,
      io: [
        { major: 8, minor: 0, rbps: 10 * 2 ** 20, wbps: 0, riops: 0, wiops: 200 },
        { major: 259, minor: 0, rbps: 0, wbps: 2 ** 20, riops: 0, wiops: 0 },
      ],
      nofile: { soft: 4096, hard: 4096 },
      nproc: { soft: 100, hard: 200 },
      core: { soft: 'max', hard: 'max' },
      env: [],
      restart: 'idle',
      user_may: [],
      seccomp: 'default',
      nested_userns: false,
      udp_ports: [0, 0],
      image: 'host',
      layer: { mode: 'temporary', bytes: 0 },
      root: 'none',
    },
  );
});

test("env, restart and user_may_set reach the record (user_may by compiled names, in the helper's order)", () => {
  const built = buildText(
    [
      'defaults:',
      '  env: {http_proxy: "http://proxy:3128"}',
      '  restart: manual',
      '  user_may_set: [limits.memory, env, shell]',
      'users:',
      '  alice:',
      '    env: {EDITOR: vim}',
      '    restart: login',
      '',
    ].join('\n'),
  );
  assert.deepEqual(built.diagnostics, []);
  const [alice, bob] = built.users;
  assert.deepEqual(
    [alice!.env, alice!.restart, alice!.user_may],
    [[['EDITOR', 'vim']], 'login', ['shell', 'env', 'memory']],
  );
  assert.deepEqual([bob!.env, bob!.restart], [[['http_proxy', 'http://proxy:3128']], 'manual']);
  assert.match(formatCompiled(built.users, 'x'), /\nuser_may shell env memory\n/);
});

test('an I/O limit on a device this host lacks, or on one disk twice, is an error at the key', () => {
  assert.deepEqual(
    problemsOf('defaults:\n  limits:\n    io: [{device: /dev/sdz, read_bps: 1M}]\n'),
    ['policy.yaml:3:9: defaults.limits.io: /dev/sdz does not exist on this host'],
    'once, though both users get it',
  );
  assert.deepEqual(
    problemsOf(
      'users:\n  alice:\n    limits:\n      io: [{device: /dev/sda, read_bps: 1M}, {device: /dev/sda1, write_bps: 1M}]\n',
    ),
    ['policy.yaml:4:11: users.alice.limits.io: /dev/sda1 is the disk 8:0 again; give each disk one entry'],
  );
});

test('published UDP ports reach the record of a user with network: private', () => {
  const built = buildText('users:\n  alice:\n    network: private\n    publish:\n      udp: 60001-60100\n');
  assert.deepEqual(built.diagnostics, []);
  assert.deepEqual(built.users.find((u) => u.name === 'alice')?.udp_ports, [60001, 60100]);
});

test("two users' published UDP ports may not overlap, nor be given to a user without network: private", () => {
  const built = buildText(
    'defaults:\n  network: private\nusers:\n  alice:\n    publish:\n      udp: 60001-60010\n  bob:\n    publish:\n      udp: 60010\n  carol:\n    network: none\n    publish:\n      udp: 61000\n',
  );
  assert.deepEqual(
    built.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message),
    [
      "bob's published UDP ports 60010-60010 overlap alice's 60001-60010; give each user ports of their own",
      'carol has network: none, where published UDP ports reach nothing; set network: private, or publish.udp: none',
    ],
  );
});

/** The sample host with one image in its store, "tools". */
function withImage(env: string[], shell = '/bin/bash') {
  const id = 'c'.repeat(64);
  return {
    env: {
      ...sampleEnv(),
      images: (name: string) => (name === 'tools' ? { id, env, shell } : 'is not in the image store'),
    },
    id,
  };
}

test("an image's record names it with its id; its Env goes under the policy's own variables, its shell where the policy names none", () => {
  const { env, id } = withImage(['PATH=/opt/bin:/bin', 'LANG=C.UTF-8', 'HOME=/nope', 'EDITOR=nano'], '/bin/zsh');
  const built = buildText(
    'users:\n  alice:\n    image: tools\n    env: {EDITOR: vim}\n  bob:\n    image: tools\n    shell: /bin/dash\n',
    env,
  );
  assert.deepEqual(built.diagnostics, []);
  const [alice, bob] = built.users;
  assert.deepEqual(alice!.image, { name: 'tools', id });
  assert.deepEqual(
    alice!.env,
    [
      ['PATH', '/opt/bin:/bin'],
      ['LANG', 'C.UTF-8'],
      ['EDITOR', 'vim'],
    ],
    "HOME is cellsh's own; EDITOR is the policy's",
  );
  assert.equal(alice!.shell, '/bin/zsh', "the image's shell: the policy names none");
  assert.equal(bob!.shell, '/bin/dash', "the policy's shell");
  assert.equal(formatCompiled(built.users, 'x').includes(`image tools ${id}\n`), true);
});

test('an image the store does not have, or whose variables overflow a record, is an error at the image key', () => {
  const { env } = withImage(Array.from({ length: 16 }, (_, i) => `V${i}=x`));
  assert.deepEqual(problemsOf('users:\n  alice:\n    image: other\n', env), [
    'policy.yaml:3:12: users.alice.image: alice\'s image "other" is not in the image store; see "cellsh-admin image ls"',
  ]);
  const [overflow] = problemsOf('users:\n  alice:\n    image: tools\n    env: {A: b}\n', env);
  assert.match(
    overflow!,
    /alice's image "tools" sets 16 variables, which with the policy's 1 are more than a session carries/,
  );
  assert.match(problemsOf('users:\n  alice:\n    image: tools\n', sampleEnv())[0]!, /no image store/);
});

test('persist and limits.disk reach the record as the writable layer; persist without a size is an error at persist', () => {
  const { env } = withImage([]);
  const built = buildText(
    'defaults:\n  image: tools\n  limits:\n    disk: 10G\nusers:\n  alice:\n    persist: true\n  bob: {}\n',
    env,
  );
  assert.deepEqual(built.diagnostics, []);
  const [alice, bob] = built.users;
  assert.deepEqual(alice!.layer, { mode: 'persistent', bytes: 10 * G });
  assert.deepEqual(bob!.layer, { mode: 'temporary', bytes: 10 * G });
  assert.equal(formatCompiled(built.users, 'x').includes(`layer persistent ${10 * G}\n`), true);
  assert.deepEqual(buildText('users:\n  alice:\n    image: tools\n', env).users[0]!.layer, {
    mode: 'temporary',
    bytes: 0,
  });
  assert.deepEqual(problemsOf('users:\n  alice:\n    image: tools\n    persist: true\n', env), [
    'policy.yaml:4:14: users.alice.persist: alice has persist: true but no limits.disk, the size of the file system that keeps the layer; set one',
  ]);
  assert.match(problemsOf('users:\n  alice:\n    limits:\n      disk: 1M\n', env)[0]!, /limits.disk/);
});

test("root: true compiles to the user's subordinate ids and the store's, and is an error at root where it can't be given", () => {
  const { env } = withImage([]);
  const ids: PolicyEnv = {
    ...env,
    subIds: (name: string) => (name === 'alice' ? { uid: 165536, gid: 231072 } : undefined),
    storeIds: () => ({ uid: 100000, gid: 100000 }),
  };
  const built = buildText('users:\n  alice:\n    image: tools\n    root: true\n', ids);
  assert.deepEqual(built.diagnostics, []);
  assert.deepEqual(built.users[0]!.root, { subUid: 165536, subGid: 231072, storeUid: 100000, storeGid: 100000 });
  assert.equal(formatCompiled(built.users, 'x').includes('root 165536 231072 100000 100000\n'), true);
  assert.equal(buildText('users:\n  alice:\n    image: tools\n', ids).users[0]!.root, 'none');
  const problem = (yaml: string, e: PolicyEnv = ids): string => problemsOf(yaml, e)[0] ?? '';
  assert.match(
    problem('users:\n  alice:\n    root: true\n'),
    /alice has root: true, but the host's own system can't be theirs/,
  );
  assert.match(
    problem('users:\n  bob:\n    image: tools\n    root: true\n'),
    /bob has root: true, but has no 65536 subordinate ids in \/etc\/subuid and \/etc\/subgid; run "cellsh-admin enroll bob"/,
  );
  assert.match(
    problem('users:\n  alice:\n    image: tools\n    root: true\n', {
      ...ids,
      storeIds: () => ({ uid: 200000, gid: 100000 }),
    }),
    /overlap the image store's/,
  );
  assert.match(
    problem('users:\n  alice:\n    image: tools\n    root: true\n', { ...ids, storeIds: () => undefined }),
    /the image store has no ids yet/,
  );
  const claims = (uid: IdClaims['uid'], accountIds: number[] = []): PolicyEnv => ({
    ...ids,
    idClaims: () => ({ uid, gid: [], ids: accountIds }),
  });
  const mine = { owner: 'alice', start: 165536, count: 65536 };
  assert.deepEqual(problemsOf('users:\n  alice:\n    image: tools\n    root: true\n', claims([mine])), []);
  assert.match(
    problem(
      'users:\n  alice:\n    image: tools\n    root: true\n',
      claims([mine, { owner: 'erin', start: 200000, count: 65536 }]),
    ),
    /alice has root: true, but their subordinate ids are also erin's; give them a range of their own/,
  );
  assert.match(
    problem('users:\n  alice:\n    image: tools\n    root: true\n', claims([mine], [0, 1001, 165600])),
    /their subordinate ids hold the account id 165600/,
  );
});
