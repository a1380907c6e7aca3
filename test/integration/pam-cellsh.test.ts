// pam_cellsh decides whether a user is cellsh's by group membership, as sshd's
// Match Group and the pam_succeed_if line before it do. Where /etc/group has a
// line longer than a fixed look-up buffer, or one no buffer it allows can hold,
// the module must still join the container's network, or refuse the session:
// never let it go on in the host's network, where sshd would forward for it.
// The session is opened through libpam itself (test/helpers/pam-open-session.py),
// in a private mount namespace whose /etc/group has the long line.
//
// The module starts the helper in a child that shares sshd's memory until its
// exec: sshd's process must come out of it as it went in.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { packageRoot } from '../helpers/fixtures.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { run } from '../helpers/system.js';

const inst = testInstall();
const skip =
  skipReason(inst) ||
  (run('sh', ['-c', 'command -v unshare && test -e /usr/lib/x86_64-linux-gnu/libpam.so.0']).status === 0
    ? false
    : 'needs unshare and libpam (util-linux, libpam0g)');

/** A PAM service of the test's own: pam_cellsh required, then pam_permit, so a module
 * that only ignores the user lets the session open. Removed after t. */
function service(t: TestContext, name: string): string {
  const svc = `cellsh-t-pam-${name}-${process.pid}`;
  writeFileSync(
    join('/etc/pam.d', svc),
    `session required ${inst!.libDir}/pam_cellsh.so group=${inst!.group}\nsession optional pam_permit.so\n`,
  );
  t.after(() => rmSync(join('/etc/pam.d', svc), { force: true }));
  return svc;
}

/** What pam-open-session.py says of the process it opened the session in. */
interface ProcessState {
  dumpable: number;
  blocked: number[];
  usr1: boolean;
}

interface Opened {
  code: number;
  netns: string;
  before: ProcessState;
  after: ProcessState;
}

/** Open a session for user with /etc/group given a bogus group of `length` bytes as its
 * first line: pam_open_session's return, the network namespace the process ended in, and
 * the process's own state before and after. */
function openSession(t: TestContext, svc: string, user: TestUser, length: number): Opened {
  const fake = `/var/lib/cellsh-t-group-${process.pid}-${length}`;
  const members = Array.from({ length: Math.ceil(length / 10) }, (_, i) => `m${String(i).padStart(8, '0')}`)
    .join(',')
    .slice(0, length);
  writeFileSync(fake, `cellsh-t-huge:x:59999:${members.replace(/,[^,]*$/, '')}\n${readFileSync('/etc/group', 'utf8')}`);
  t.after(() => rmSync(fake, { force: true }));
  const script = join(packageRoot(), 'test/helpers/pam-open-session.py');
  const r = run('unshare', [
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    `mount --bind ${fake} /etc/group && exec python3 ${script} ${svc} ${user.name}`,
  ]);
  assert.equal(r.status, 0, r.err);
  return JSON.parse(r.out) as Opened;
}

test("a member's session joins the container's network even behind a group line longer than a small look-up buffer", {
  skip,
}, (t) => {
  const user = createUser(t, inst!, 'pam1');
  mustApply(inst!);
  const svc = service(t, 'long');
  const host = readlinkSync('/proc/self/ns/net');
  const r = openSession(t, svc, user, 40_000);
  assert.equal(r.code, 0, 'the session opened');
  assert.notEqual(r.netns, host, "the session is in the container's network, not the host's");
});

test('when group membership cannot be told, the session is refused rather than left in the host network', {
  skip,
}, (t) => {
  const user = createUser(t, inst!, 'pam2');
  mustApply(inst!);
  const svc = service(t, 'huge');
  // Longer than any buffer the module grows to (4 MiB): the look-up fails.
  const r = openSession(t, svc, user, 5 << 20);
  assert.notEqual(r.code, 0, `pam_open_session must fail, got ${r.code} in ${r.netns}`);
});

test("opening a member's session leaves the process as it was: dumpable, its blocked signals and its handlers", {
  skip,
}, (t) => {
  const user = createUser(t, inst!, 'pam3');
  mustApply(inst!);
  const svc = service(t, 'state');
  const r = openSession(t, svc, user, 100);
  assert.equal(r.code, 0, 'the session opened');
  assert.notEqual(r.netns, readlinkSync('/proc/self/ns/net'), "the session is in the container's network");
  assert.equal(r.before.dumpable, 1, 'the control: the process was dumpable before');
  assert.deepEqual(r.after, r.before);
});
