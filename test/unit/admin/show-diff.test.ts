// `cellsh-admin show` and `diff` against a temp installation with policy.d
// drop-ins: origins with file:line, the applied state, and what apply changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runApply } from '../../../src/admin/apply.js';
import { diffRecords, runDiff } from '../../../src/admin/diff.js';
import { readApplied } from '../../../src/admin/installed.js';
import { runShow } from '../../../src/admin/show.js';
import { CellshError } from '../../../src/errors.js';
import { memoryLogger } from '../../../src/log.js';
import { needsTrustedBase, sampleEnv, tempLayout, textSink } from '../../helpers/fixtures.js';

const skip = needsTrustedBase();

/** A temp installation with policy.yaml and drop-ins; verbs run against it. */
function setup(main: string, dropins: Record<string, string> = {}) {
  const tmp = tempLayout();
  mkdirSync(tmp.layout.policyDir, { recursive: true });
  writeFileSync(tmp.layout.policyFile, main);
  for (const [name, text] of Object.entries(dropins)) writeFileSync(join(tmp.layout.policyDir, name), text);
  const env = sampleEnv();
  const io = () => ({ out: textSink(), err: textSink() });
  return {
    ...tmp,
    write: (name: string, text: string) =>
      writeFileSync(name === 'policy.yaml' ? tmp.layout.policyFile : join(tmp.layout.policyDir, name), text),
    apply: () => runApply({ layout: tmp.layout, env, log: memoryLogger().log, ...io(), euid: 0, byUid: 0 }),
    show: (name: string, json = false) => {
      const s = io();
      const code = runShow({ layout: tmp.layout, env, name, json, ...s });
      return { code, out: s.out.text(), err: s.err.text() };
    },
    diff: (json = false) => {
      const s = io();
      const code = runDiff({ layout: tmp.layout, env, json, ...s });
      return { code, out: s.out.text(), err: s.err.text() };
    },
  };
}

const MAIN = 'defaults:\n  limits:\n    memory: 1G\ngroups:\n  dev:\n    network: host\n';
const DROPIN = { '10-alice.yaml': 'users:\n  alice:\n    limits:\n      pids: 64\n' };

test('show: each setting with its value and the layer and file:line it came from', { skip }, () => {
  const t = setup(MAIN, DROPIN);
  try {
    const r = t.show('alice');
    assert.equal(r.code, 0);
    assert.equal(r.err, '');
    const lines = r.out.split('\n');
    assert.equal(lines[0], 'alice (uid 1001; groups alice, cellsh, dev): enrolled');
    assert.equal(lines[1], 'no policy is applied yet: run "cellsh-admin apply"');
    const dropin = join(t.layout.policyDir, '10-alice.yaml');
    assert.equal(
      lines[2],
      `layers, in order: built-in, defaults (${t.layout.policyFile}), groups.dev (${t.layout.policyFile}:5), users.alice (${dropin}:2)`,
    );
    const row = (key: string): string =>
      lines
        .find((l) => l.startsWith(`  ${key} `))!
        .replace(/ +/g, ' ')
        .trim();
    assert.equal(row('network'), `network host groups.dev at ${t.layout.policyFile}:6:14`);
    assert.equal(row('limits.memory'), `limits.memory 1G defaults at ${t.layout.policyFile}:3:13`);
    assert.equal(row('limits.pids'), `limits.pids 64 users.alice at ${dropin}:4:13`);
    assert.equal(row('limits.cpu'), 'limits.cpu 1.5 built-in');
    assert.equal(row('hostname'), 'hostname "{user}" = alice built-in');
    const bob = t.show('bob');
    assert.match(bob.out, /\n {2}network +none +built-in\n/);
    assert.match(
      t.show('carol').out,
      /^carol \(uid 1003; groups carol\): not enrolled: cellsh does not serve them \(cellsh-admin enroll carol\)\n/,
    );
  } finally {
    t.remove();
  }
});

test('show: the applied state follows apply and later edits; --json has the same facts', { skip }, () => {
  const t = setup(MAIN, DROPIN);
  try {
    assert.equal(t.apply(), 0);
    assert.match(t.show('alice').out, /\nthe applied policy is up to date\n/);
    t.write('10-alice.yaml', 'users:\n  alice:\n    limits:\n      pids: 65\n');
    assert.match(
      t.show('alice').out,
      /\nthe files say something else than the applied policy: see "cellsh-admin diff", then apply\n/,
    );
    const j = JSON.parse(t.show('alice', true).out) as Record<string, unknown>;
    assert.equal(j['applied'], 'changed');
    assert.equal(j['enrolled'], true);
    assert.equal(j['hostname'], 'alice');
    assert.deepEqual((j['settings'] as Record<string, unknown>)['limits.pids'], {
      value: '65',
      layer: 'users.alice',
      file: join(t.layout.policyDir, '10-alice.yaml'),
      line: 4,
      col: 13,
    });
    assert.deepEqual((j['settings'] as Record<string, unknown>)['limits.cpu'], { value: '1.5', layer: 'built-in' });
  } finally {
    t.remove();
  }
});

test('show: an unknown user is a usage error; a policy with errors still shows, with a note', { skip }, () => {
  const t = setup(MAIN, { '20-bad.yaml': 'defaults:\n  network: wifi\n' });
  try {
    assert.throws(
      () => t.show('nobody-here'),
      (e: unknown) =>
        e instanceof CellshError && e.exitCode === 64 && e.message === 'no user "nobody-here" on this host',
    );
    const r = t.show('bob');
    assert.equal(r.code, 0);
    assert.equal(
      r.err,
      'cellsh-admin: the policy has 1 error ("cellsh-admin check" lists them); an invalid value is shown from the layer below\n',
    );
  } finally {
    t.remove();
  }
});

test('diff: nothing applied, then no changes, then each changed field before -> after, and when it reaches a running container', {
  skip,
}, () => {
  const t = setup(MAIN, DROPIN);
  try {
    const first = t.diff();
    assert.equal(first.code, 1);
    assert.equal(
      first.out,
      'no policy is applied yet: every user below is new\n+ alice (uid 1001): served from the next apply\n' +
        '+ bob (uid 1002): served from the next apply\n2 users would change; "cellsh-admin apply" applies it\n',
    );
    assert.equal(t.apply(), 0);
    assert.deepEqual(t.diff(), { code: 0, out: 'no changes: the applied policy says what the files say\n', err: '' });
    t.write('policy.yaml', 'defaults:\n  limits:\n    memory: 4G\n    cpu: 0.5\ngroups:\n  dev:\n    network: host\n');
    t.write('10-alice.yaml', 'users:\n  alice:\n    limits:\n      pids: unlimited\n');
    const r = t.diff();
    assert.equal(r.code, 1);
    assert.equal(
      r.out,
      [
        '  alice: limits.memory 1G -> 4G (live, at the next login)',
        '  alice: limits.pids 64 -> unlimited (live, at the next login)',
        '  alice: limits.cpu 1.5 -> 0.5 (live, at the next login)',
        '  bob: limits.memory 1G -> 4G (live, at the next login)',
        '  bob: limits.cpu 1.5 -> 0.5 (live, at the next login)',
        '2 users would change; "cellsh-admin apply" applies it',
        '',
      ].join('\n'),
    );
    const j = JSON.parse(t.diff(true).out) as { changes: Array<{ user: string; fields: unknown[] }> };
    assert.deepEqual(
      j.changes.map((c) => [c.user, c.fields.length]),
      [
        ['alice', 3],
        ['bob', 2],
      ],
    );
  } finally {
    t.remove();
  }
});

test('diff: a user dropped from the policy, and a policy with errors (exit 78, nothing compared)', { skip }, () => {
  const t = setup('users:\n  carol: {}\n');
  try {
    assert.equal(t.apply(), 0);
    t.write('policy.yaml', '');
    assert.match(t.diff().out, /^- carol \(uid 1003\): no longer served after the next apply\n/);
    t.write('policy.yaml', 'defaults:\n  limits:\n    memory: lots\n');
    const r = t.diff();
    assert.equal(r.code, 78);
    assert.equal(r.out, '');
    assert.match(
      r.err,
      /policy\.yaml:3:13: defaults\.limits\.memory: expected a size like "512M", got "lots"\ncellsh-admin: the policy has 1 error: apply would change nothing\n$/,
    );
  } finally {
    t.remove();
  }
});

test('show and diff read the drop-in folder of the layout, in name order', { skip }, () => {
  const t = setup('', {
    '20-b.yaml': 'defaults:\n  shell: /bin/sh\n',
    '10-a.yaml': 'defaults:\n  shell: /usr/bin/zsh\n',
  });
  try {
    assert.match(
      t.show('bob').out,
      new RegExp(`\\n {2}shell +/bin/sh +defaults at ${join(t.layout.policyDir, '20-b.yaml')}:2:10\\n`),
    );
  } finally {
    t.remove();
  }
});

test('show: seccomp and nested_userns with their values and where they came from', { skip }, () => {
  const t = setup('defaults:\n  seccomp: strict\ngroups:\n  dev:\n    seccomp: default\n    nested_userns: true\n');
  try {
    const row = (out: string, key: string): string =>
      out
        .split('\n')
        .find((l) => l.startsWith(`  ${key} `))!
        .replace(/ +/g, ' ')
        .trim();
    const alice = t.show('alice');
    assert.equal(alice.code, 0);
    assert.equal(row(alice.out, 'seccomp'), `seccomp default groups.dev at ${t.layout.policyFile}:5:14`);
    assert.equal(row(alice.out, 'nested_userns'), `nested_userns true groups.dev at ${t.layout.policyFile}:6:20`);
    const bob = t.show('bob');
    assert.equal(row(bob.out, 'seccomp'), `seccomp strict defaults at ${t.layout.policyFile}:2:12`);
    assert.equal(row(bob.out, 'nested_userns'), 'nested_userns false built-in');
    const j = JSON.parse(t.show('bob', true).out) as { settings: Record<string, unknown> };
    assert.deepEqual(j.settings['nested_userns'], { value: 'false', layer: 'built-in' });
  } finally {
    t.remove();
  }
});

test('diff: a changed seccomp profile and nested_userns, before -> after', { skip }, () => {
  const t = setup('');
  try {
    assert.equal(t.apply(), 0);
    t.write(
      'policy.yaml',
      'defaults:\n  seccomp: strict\nusers:\n  alice:\n    seccomp: default\n    nested_userns: true\n',
    );
    const r = t.diff();
    assert.equal(r.code, 1, r.err);
    assert.equal(
      r.out,
      [
        '  alice: nested_userns false -> true (from the next session)',
        '  bob: seccomp default -> strict (restarts the container at the next login)',
        '2 users would change; "cellsh-admin apply" applies it',
        '',
      ].join('\n'),
    );
  } finally {
    t.remove();
  }
});

test('diff: a change that shapes the container waits for a restart, one that takes access away restarts it', {
  skip,
}, () => {
  const t = setup('groups:\n  dev:\n    network: host\n');
  try {
    assert.equal(t.apply(), 0);
    t.write('policy.yaml', 'defaults:\n  hostname: box-{user}\n  shell: /bin/sh\ngroups:\n  dev:\n    network: none\n');
    const r = t.diff();
    assert.equal(r.code, 1, r.err);
    const lines = r.out.split('\n');
    assert.ok(lines.includes('  alice: hostname alice -> box-alice (waits for a restart)'), r.out);
    assert.ok(lines.includes('  alice: network host -> none (restarts the container at the next login)'), r.out);
    assert.ok(lines.includes('  bob: hostname bob -> box-bob (waits for a restart)'), r.out);
    assert.ok(
      lines.some((l) => /^ {2}bob: shell \S+ -> \/bin\/sh \(from the next session\)$/.test(l)),
      r.out,
    );
    const j = JSON.parse(t.diff(true).out) as {
      changes: Array<{ user: string; fields: Array<{ key: string; when: string }> }>;
    };
    const alice = j.changes.find((c) => c.user === 'alice')!;
    assert.deepEqual(
      alice.fields.map((f) => [f.key, f.when]),
      [
        ['shell', 'session'],
        ['hostname', 'restart'],
        ['network', 'access'],
      ],
    );
  } finally {
    t.remove();
  }
});

test('diff: a primary group renamed on the host waits for a restart; another group id restarts at the next login', {
  skip,
}, () => {
  const t = setup('');
  try {
    assert.equal(t.apply(), 0);
    const applied = readApplied(t.layout)!;
    const renamed = diffRecords(
      applied,
      applied.map((u) => ({ ...u, group: `${u.group}x` })),
      () => undefined,
    );
    assert.deepEqual(
      renamed.map((c) => c.fields.map((f) => [f.key, f.when])),
      applied.map(() => [['group', 'restart']]),
    );
    const moved = diffRecords(
      applied,
      applied.map((u) => ({ ...u, gid: u.gid + 100 })),
      () => undefined,
    );
    assert.deepEqual(
      moved.map((c) => c.fields.map((f) => [f.key, f.when])),
      applied.map(() => [['group', 'access']]),
    );
  } finally {
    t.remove();
  }
});

test("diff: a forwarding change shows as a change of sshd's drop-in, where install.sh put one", { skip }, () => {
  const t = setup(MAIN);
  try {
    assert.equal(t.apply(), 0);
    t.write('policy.yaml', `${MAIN}users:\n  alice:\n    forwarding: {x11: true}\n`);
    assert.equal(t.diff().code, 0, 'no drop-in (no pam_cellsh): nothing of sshd changes');
    const conf = join(t.layout.sshdConfigDir, 'cellsh-forwarding.conf');
    mkdirSync(t.layout.sshdConfigDir, { recursive: true });
    writeFileSync(conf, '# cellsh: filled by "cellsh-admin apply"\n');
    assert.deepEqual(t.diff(), {
      code: 1,
      out: `  ssh forwarding: ${conf} changes (sshd reloads at apply; open connections keep theirs)\nssh forwarding would change; "cellsh-admin apply" applies it\n`,
      err: '',
    });
    assert.equal((JSON.parse(t.diff(true).out) as { forwarding: boolean }).forwarding, true);
    assert.equal(t.apply(), 0);
    assert.deepEqual(t.diff(), { code: 0, out: 'no changes: the applied policy says what the files say\n', err: '' });
  } finally {
    t.remove();
  }
});
