// `cellsh-admin apply` against a temp layout: atomic write with mode 0644,
// rejected policies leave the old file alone and are logged, root only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runApply, type ApplyOptions } from '../../../src/admin/apply.js';
import { runningSshd } from '../../../src/admin/sshd-forwarding.js';
import type { Layout } from '../../../src/layout.js';
import { CellshError } from '../../../src/errors.js';
import { memoryLogger } from '../../../src/log.js';
import { parseCompiled } from '../../../src/policy/index.js';
import { needsTrustedBase, sampleEnv, tempLayout, textSink } from '../../helpers/fixtures.js';

const skip = needsTrustedBase();

/** A temp installation with a policy file; apply() runs the verb against it. */
function setup(policy: string) {
  const tmp = tempLayout();
  mkdirSync(dirname(tmp.layout.policyFile), { recursive: true });
  writeFileSync(tmp.layout.policyFile, policy);
  const logger = memoryLogger();
  const apply = (extra: Partial<ApplyOptions> = {}) => {
    const out = textSink();
    const err = textSink();
    const code = runApply({
      layout: tmp.layout,
      env: sampleEnv(),
      log: logger.log,
      out,
      err,
      euid: 0,
      byUid: 1000,
      ...extra,
    });
    return { code, out: out.text(), err: err.text() };
  };
  return {
    ...tmp,
    records: logger.records,
    apply,
    setPolicy: (text: string) => writeFileSync(tmp.layout.policyFile, text),
  };
}

const GOOD = 'defaults:\n  limits: {memory: 1G}\n';
const BAD = 'defaults:\n  limits: {memory: lots}\n';

test('apply writes the compiled policy with mode 0644 in a 0755 folder and logs policy-apply', { skip }, () => {
  const t = setup(GOOD);
  const mask = process.umask(0o077);
  try {
    const r = t.apply();
    assert.deepEqual(r, { code: 0, out: `applied: 2 users -> ${t.layout.compiledPolicy}\n`, err: '' });
    const st = statSync(t.layout.compiledPolicy);
    assert.equal(st.mode & 0o7777, 0o644);
    assert.equal(statSync(dirname(t.layout.compiledPolicy)).mode & 0o7777, 0o755);
    const users = parseCompiled(readFileSync(t.layout.compiledPolicy));
    assert.deepEqual(
      users.map((u) => [u.name, u.memory]),
      [
        ['alice', 2 ** 30],
        ['bob', 2 ** 30],
      ],
    );
    assert.deepEqual(readdirSync(dirname(t.layout.compiledPolicy)), ['policy.compiled']);
    assert.deepEqual(
      t.records.map((r) => [r['event'], r['files'], r['users'], r['by_uid']]),
      [['policy-apply', [t.layout.policyFile], 2, 1000]],
    );
  } finally {
    process.umask(mask);
    t.remove();
  }
});

test('a rejected policy leaves the previous file byte-identical and logs policy-rejected', { skip }, () => {
  const t = setup(GOOD);
  try {
    assert.equal(t.apply().code, 0);
    const before = readFileSync(t.layout.compiledPolicy);
    t.setPolicy(BAD);
    const r = t.apply();
    assert.equal(r.code, 78);
    assert.equal(r.out, '');
    assert.equal(
      r.err,
      [
        `${t.layout.policyFile}:2:20: defaults.limits.memory: expected a size like "512M", got "lots"`,
        `${t.layout.policyFile}: 1 error; nothing applied, ${t.layout.compiledPolicy} is unchanged`,
        '',
      ].join('\n'),
    );
    assert.deepEqual(readFileSync(t.layout.compiledPolicy), before);
    assert.deepEqual(
      t.records.map((r) => [r['event'], r['problems'] ?? r['users']]),
      [
        ['policy-apply', 2],
        ['policy-rejected', 1],
      ],
    );
  } finally {
    t.remove();
  }
});

test('a crash before the rename leaves the old file and no temp file', { skip }, () => {
  const t = setup(GOOD);
  try {
    t.apply();
    const before = readFileSync(t.layout.compiledPolicy);
    t.setPolicy('defaults:\n  network: host\n');
    assert.throws(
      () =>
        t.apply({
          beforeRename: () => {
            throw new Error('simulated crash');
          },
        }),
      (err: unknown) =>
        err instanceof CellshError && /can't write ".*policy\.compiled": simulated crash/.test(err.message),
    );
    assert.deepEqual(readFileSync(t.layout.compiledPolicy), before);
    assert.deepEqual(readdirSync(dirname(t.layout.compiledPolicy)), ['policy.compiled']);
    assert.equal(t.records.filter((r) => r['event'] === 'policy-apply').length, 1);
  } finally {
    t.remove();
  }
});

test('a second apply replaces the file', { skip }, () => {
  const t = setup(GOOD);
  try {
    t.apply();
    t.setPolicy('defaults:\n  network: host\n');
    assert.equal(t.apply().code, 0);
    assert.deepEqual(
      parseCompiled(readFileSync(t.layout.compiledPolicy)).map((u) => u.network),
      ['host', 'host'],
    );
  } finally {
    t.remove();
  }
});

test('apply refuses to run as a non-root user (exit 77) and writes nothing', () => {
  const t = setup(GOOD);
  try {
    assert.throws(
      () => t.apply({ euid: 1000 }),
      (err: unknown) =>
        err instanceof CellshError &&
        err.exitCode === 77 &&
        err.message === `apply must run as root: it writes ${t.layout.compiledPolicy}`,
    );
    assert.throws(() => statSync(t.layout.compiledPolicy), /ENOENT/);
    assert.deepEqual(t.records, []);
  } finally {
    t.remove();
  }
});

test('warnings are printed and the policy is applied', { skip }, () => {
  const t = setup('users:\n  carol: {}\n');
  try {
    const r = t.apply();
    assert.equal(r.code, 0);
    assert.match(r.err, /warning: users\.carol: carol is not enrolled/);
    assert.equal(r.out, `applied: 3 users -> ${t.layout.compiledPolicy}\n`);
  } finally {
    t.remove();
  }
});

/** What install.sh leaves with pam_cellsh: the module in sshd's PAM stack (unless
 * withModule is false) and the drop-in waiting for apply; returns the drop-in's path. */
function installDropIn(layout: Layout, withModule = true): string {
  mkdirSync(dirname(layout.sshdPam), { recursive: true });
  writeFileSync(
    layout.sshdPam,
    `${withModule ? 'session required /usr/local/lib/cellsh/pam_cellsh.so group=cellsh\n' : ''}@include common-session\n`,
  );
  const conf = join(layout.sshdConfigDir, 'cellsh-forwarding.conf');
  mkdirSync(layout.sshdConfigDir, { recursive: true });
  writeFileSync(conf, '# cellsh: filled by "cellsh-admin apply"\n');
  return conf;
}

/** The drop-in's settings lines. */
const blocksOf = (conf: string): string[] =>
  readFileSync(conf, 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('#') && l !== '');

test("apply leaves sshd alone where install.sh put no forwarding drop-in (no pam_cellsh), and says the policy's settings do nothing", {
  skip,
}, () => {
  const t = setup('users:\n  bob:\n    forwarding: {x11: true}\n');
  try {
    const r = t.apply();
    assert.equal(r.code, 0);
    assert.match(r.err, /^note: the policy's forwarding settings have no effect here: pam_cellsh is not installed/);
    assert.equal(existsSync(join(t.layout.sshdConfigDir, 'cellsh-forwarding.conf')), false);
  } finally {
    t.remove();
  }
});

test("apply fills install.sh's forwarding drop-in: users unlike the defaults first, then the group", { skip }, () => {
  const t = setup(
    'defaults:\n  forwarding: {remote: false}\nusers:\n  bob:\n    forwarding: {local: false, x11: true}\n',
  );
  try {
    const conf = installDropIn(t.layout);
    const r = t.apply();
    assert.equal(r.code, 0);
    assert.match(r.out, new RegExp(`applied: ssh forwarding -> ${conf} \\(sshd reads it when it starts\\)\n$`));
    assert.deepEqual(blocksOf(conf), [
      'Match Group cellsh User bob',
      '    AllowTcpForwarding no',
      '    PermitOpen none',
      '    PermitListen none',
      '    X11Forwarding yes',
      'Match Group cellsh',
      '    AllowTcpForwarding local',
      '    PermitOpen any',
      '    PermitListen none',
      '    X11Forwarding no',
    ]);
    assert.equal(statSync(conf).mode & 0o777, 0o644);
    assert.equal(t.apply().out.includes('ssh forwarding'), false, 'an unchanged drop-in is not written again');
  } finally {
    t.remove();
  }
});

test("without pam_cellsh in sshd's PAM stack (an upgrade replaced it), apply writes a drop-in that forwards nothing, and says why", {
  skip,
}, () => {
  const t = setup('users:\n  bob:\n    forwarding: {x11: true}\n');
  try {
    const conf = installDropIn(t.layout, false);
    const r = t.apply();
    assert.equal(r.code, 0);
    assert.match(r.err, /^note: pam_cellsh is not in \S+pam\.d\/sshd, so \S+ keeps every ssh forward closed/m);
    assert.deepEqual(blocksOf(conf), [
      'Match Group cellsh',
      '    AllowTcpForwarding no',
      '    PermitOpen none',
      '    PermitListen none',
      '    X11Forwarding no',
    ]);
  } finally {
    t.remove();
  }
});

test('when sshd -t refuses the result, the old drop-in goes back, apply exits 78 and the refusal is logged', {
  skip,
}, () => {
  const t = setup('users:\n  bob:\n    forwarding: {x11: true}\n');
  try {
    const conf = installDropIn(t.layout);
    const before = readFileSync(conf);
    writeFileSync(t.layout.sshdConfig, 'Include /nonexistent\n');
    const sshd = join(t.root, 'fake-sshd');
    writeFileSync(sshd, '#!/bin/sh\necho "line 1: Bad configuration option: Frobnicate" >&2\nexit 255\n', {
      mode: 0o755,
    });
    const r = t.apply({ sshd });
    assert.equal(r.code, 78);
    assert.match(
      r.err,
      /^sshd refuses its configuration \(sshd -t: line 1: Bad configuration option: Frobnicate\), so \S+ is unchanged/m,
    );
    assert.deepEqual(readFileSync(conf), before);
    assert.deepEqual(
      t.records.filter((x) => x['event'] === 'sshd-forwarding').map((x) => x['outcome']),
      ['refused'],
    );
    // The same with an sshd that accepts it: written, and logged as such.
    writeFileSync(sshd, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    assert.equal(t.apply({ sshd }).code, 0);
    assert.notDeepEqual(readFileSync(conf), before);
  } finally {
    t.remove();
  }
});

test("a pid file that is not root's, or names a process that is not sshd, gets no signal", { skip }, () => {
  const t = setup(GOOD);
  try {
    const pidFile = t.layout.sshdPidFile;
    mkdirSync(dirname(pidFile), { recursive: true });
    writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o644 });
    // This process, as if it were sshd: root's file, the program it names.
    assert.equal(runningSshd(pidFile, process.execPath), process.pid);
    assert.equal(runningSshd(pidFile, '/usr/sbin/sshd'), undefined, 'a pid whose program is not sshd');
    chownSync(pidFile, 65534, 65534);
    assert.equal(runningSshd(pidFile, process.execPath), undefined, 'a pid file someone else could have written');
  } finally {
    t.remove();
  }
});
