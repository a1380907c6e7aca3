// cellsh-admin reads an installed policy file only if root alone could have
// written it: owner, mode, the folders above it, symlinks out of the policy
// folder and files that are not regular are refused by apply (nothing applied),
// reported by check and doctor, and stop edit before the editor runs.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runApply } from '../../../src/admin/apply.js';
import { runCheck } from '../../../src/admin/check.js';
import { runDoctor } from '../../../src/admin/doctor.js';
import { runEdit } from '../../../src/admin/edit.js';
import { policyFolder } from '../../../src/admin/installed.js';
import { memoryLogger } from '../../../src/log.js';
import { parseCompiled, policyFiles } from '../../../src/policy/index.js';
import { needsTrustedBase, sampleDirectory, sampleEnv, tempLayout, textSink } from '../../helpers/fixtures.js';

const skip = needsTrustedBase();
/** A uid that is not root (nobody). */
const NOT_ROOT = 65534;
const GOOD = 'defaults:\n  limits: {pids: 100}\n';

/** A temp installation with a good policy applied; each file written 0644, each folder 0755. */
function setup(t: TestContext) {
  const tmp = tempLayout();
  t.after(() => tmp.remove());
  const etc = policyFolder(tmp.layout);
  mkdirSync(tmp.layout.policyDir, { recursive: true, mode: 0o755 });
  chmodSync(etc, 0o755);
  chmodSync(tmp.layout.policyDir, 0o755);
  const write = (path: string, text: string): string => {
    writeFileSync(path, text);
    chmodSync(path, 0o644);
    return path;
  };
  write(tmp.layout.policyFile, GOOD);
  const dropin = (name: string) => join(tmp.layout.policyDir, name);
  const io = () => ({ out: textSink(), err: textSink() });
  const apply = () => {
    const s = io();
    const code = runApply({ layout: tmp.layout, env: sampleEnv(), log: memoryLogger().log, ...s, euid: 0, byUid: 0 });
    return { code, out: s.out.text(), err: s.err.text() };
  };
  const check = (installed = true) => {
    const s = io();
    const files = policyFiles(tmp.layout.policyFile, tmp.layout.policyDir).files;
    const code = runCheck({ files, json: false, env: sampleEnv(), trustedIn: installed ? etc : undefined, ...s });
    return { code, err: s.err.text() };
  };
  assert.equal(apply().code, 0);
  const compiled = readFileSync(tmp.layout.compiledPolicy);
  /** Apply must refuse, naming the file with the reason, and leave the compiled policy as it was. */
  const refused = (file: string, reason: string) => {
    const r = apply();
    assert.equal(r.code, 78, r.err);
    assert.equal(r.out, '');
    assert.ok(
      r.err.includes(`${file}: refusing to trust it: ${reason}`),
      `apply says "${file}: refusing to trust it: ${reason}"; it said:\n${r.err}`,
    );
    assert.match(r.err, /nothing applied, .* is unchanged\n$/);
    assert.deepEqual(readFileSync(tmp.layout.compiledPolicy), compiled, 'the compiled policy is unchanged');
    return r.err;
  };
  return { ...tmp, etc, write, dropin, apply, check, refused };
}

test('a policy file owned by a user other than root is refused', { skip }, (t) => {
  const s = setup(t);
  const file = s.write(s.dropin('10-x.yaml'), 'defaults:\n  limits: {pids: 5000}\n');
  chownSync(file, NOT_ROOT, NOT_ROOT);
  const err = s.refused(
    file,
    `owned by uid ${NOT_ROOT}, not root; check it, then run "chown root:root ${file}" (only root may change what users get)`,
  );
  assert.equal(err.split('\n').filter((l) => l.startsWith(file)).length, 1, 'one problem for that file');
});

test('a group-writable policy file is refused, with the chmod that fixes it', { skip }, (t) => {
  const s = setup(t);
  const file = s.write(s.dropin('10-x.yaml'), 'defaults:\n  limits: {pids: 5000}\n');
  chmodSync(file, 0o664);
  s.refused(file, `writable by group (mode 0664); run "chmod go-w ${file}" (only root may change what users get)`);
  chmodSync(file, 0o644);
  assert.equal(s.apply().code, 0, 'once fixed, it is applied');
});

test('a world-writable main policy file is refused', { skip }, (t) => {
  const s = setup(t);
  chmodSync(s.layout.policyFile, 0o646);
  s.refused(s.layout.policyFile, 'writable by others (mode 0646)');
});

test('a policy file in a folder others may write (policy.d 0777) is refused', { skip }, (t) => {
  const s = setup(t);
  const file = s.write(s.dropin('10-x.yaml'), 'defaults:\n  limits: {pids: 5000}\n');
  chmodSync(s.layout.policyDir, 0o777);
  s.refused(
    file,
    `the folder ${s.layout.policyDir} above it is writable by group and others (mode 0777); run "chmod go-w ${s.layout.policyDir}"`,
  );
});

test("a folder higher up that is not root's makes every policy file below it refused", { skip }, (t) => {
  const s = setup(t);
  chownSync(s.etc, NOT_ROOT, NOT_ROOT);
  s.refused(s.layout.policyFile, `the folder ${s.etc} above it is owned by uid ${NOT_ROOT}, not root`);
});

test('a symlink to a file outside the policy folder is refused, even a root-owned one', { skip }, (t) => {
  const s = setup(t);
  const outside = mkdtempSync(join(tmpdir(), 'cellsh-outside-'));
  t.after(() => rmSync(outside, { recursive: true, force: true }));
  const target = s.write(join(outside, 'evil.yaml'), 'defaults:\n  network: host\n');
  const link = s.dropin('10-link.yaml');
  symlinkSync(target, link);
  s.refused(link, `a symlink to ${target}, outside ${s.etc}; put the file itself in ${s.etc}`);
  // The main file too, and a link through a symlinked folder.
  rmSync(link);
  rmSync(s.layout.policyDir, { recursive: true });
  symlinkSync(outside, s.layout.policyDir);
  s.refused(
    join(s.layout.policyDir, 'evil.yaml'),
    `reached through a symlinked folder: it is ${target}, outside ${s.etc}`,
  );
});

test('a symlink that stays inside the policy folder is followed', { skip }, (t) => {
  const s = setup(t);
  mkdirSync(join(s.etc, 'shared'), { mode: 0o755 });
  chmodSync(join(s.etc, 'shared'), 0o755);
  s.write(join(s.etc, 'shared', 'limits.yaml'), 'defaults:\n  limits: {pids: 321}\n');
  symlinkSync('../shared/limits.yaml', s.dropin('10-link.yaml'));
  const r = s.apply();
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(
    parseCompiled(readFileSync(s.layout.compiledPolicy)).map((u) => u.pids),
    [321, 321],
  );
});

test('a FIFO in policy.d is refused at once, not waited on', { skip, timeout: 10_000 }, (t) => {
  const s = setup(t);
  const fifo = s.dropin('10-pipe.yaml');
  execFileSync('mkfifo', ['-m', '0644', fifo]);
  s.refused(fifo, 'a FIFO, not a regular file; remove it or put a regular file in its place');
});

test('check reports what apply would refuse for the installed policy, not for drafts named on the command line', {
  skip,
}, (t) => {
  const s = setup(t);
  const file = s.write(s.dropin('10-x.yaml'), 'defaults: {}\n');
  chmodSync(file, 0o664);
  const installed = s.check(true);
  assert.equal(installed.code, 78);
  assert.match(installed.err, new RegExp(`^${file}: refusing to trust it: writable by group \\(mode 0664\\)`, 'm'));
  assert.deepEqual(s.check(false), { code: 0, err: '' });
});

test('edit stops before the editor when a policy file is untrusted', { skip }, (t) => {
  const s = setup(t);
  chmodSync(s.layout.policyFile, 0o666);
  let edited = 0;
  const out = textSink();
  const err = textSink();
  const code = runEdit({
    layout: s.layout,
    env: sampleEnv(),
    file: s.layout.policyFile,
    out,
    err,
    ask: undefined,
    editor: () => {
      edited++;
      return 0;
    },
    apply: () => 0,
  });
  assert.equal(code, 78);
  assert.equal(edited, 0, 'the editor did not run');
  assert.match(
    err.text(),
    new RegExp(`^${s.layout.policyFile}: refusing to trust it: writable by group and others \\(mode 0666\\)`),
  );
  assert.equal(readFileSync(s.layout.policyFile, 'utf8'), GOOD);
});

test('doctor reports an untrusted policy file with its fix', { skip }, (t) => {
  const s = setup(t);
  chmodSync(s.layout.policyFile, 0o664);
  const out = textSink();
  runDoctor({
    layout: s.layout,
    dir: sampleDirectory(),
    sshdConfig: join(s.root, 'none'),
    pamFile: join(s.root, 'none'),
    sshd: () => undefined,
    out,
    json: false,
  });
  assert.match(
    out.text(),
    new RegExp(
      `^fail +policy +${s.layout.policyFile}: apply refuses it: writable by group \\(mode 0664\\)\\n +fix: run "chmod go-w `,
      'm',
    ),
  );
  chmodSync(s.layout.policyFile, 0o644);
  const again = textSink();
  runDoctor({
    layout: s.layout,
    dir: sampleDirectory(),
    sshdConfig: join(s.root, 'none'),
    pamFile: join(s.root, 'none'),
    sshd: () => undefined,
    out: again,
    json: false,
  });
  assert.match(again.text(), /^ok +policy +the policy files and the folders above them are root's alone$/m);
});
