// The README's quick start, for real: on a fresh minimal
// Debian 12 (no Node, no compiler; Debian's Node is 18.20), `./install.sh --demo`
// as root installs everything it needs and ends at a prompt inside the demo
// user's container. And on such a host with OpenSSH, install.sh edits the real
// /etc/pam.d/sshd, which --uninstall gives back as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../helpers/fixtures.js';
import { run } from '../helpers/system.js';
import { Terminal } from '../helpers/terminal.js';

const HARNESS = join(packageRoot(), 'test/harness/fresh-debian.sh');
const QUICKSTART_TIMEOUT_MS = 20 * 60_000;

/** Why systemd-nspawn can't start a container here, or false: it runs a throw-away
 * tree holding only busybox, as the harness runs the fresh Debian. Some hosts
 * can't, such as a container without the privileges to make one of its own. */
function nspawnReason(): string | false {
  if (!existsSync('/bin/busybox')) return false; // no probe without busybox-static: the test will tell
  const dir = mkdtempSync('/var/tmp/cellsh-t-nspawn-');
  try {
    mkdirSync(join(dir, 'usr', 'bin'), { recursive: true });
    mkdirSync(join(dir, 'etc'));
    copyFileSync('/bin/busybox', join(dir, 'usr', 'bin', 'busybox'));
    chmodSync(join(dir, 'usr', 'bin', 'busybox'), 0o755);
    writeFileSync(join(dir, 'etc', 'os-release'), 'ID=cellsh-probe\n'); // nspawn wants an OS tree
    const r = run('systemd-nspawn', [
      '--quiet',
      '--register=no',
      '--keep-unit',
      `--directory=${dir}`,
      '/usr/bin/busybox',
      'true',
    ]);
    return r.status === 0 ? false : `systemd-nspawn can't start a container here (${r.err.trim().split('\n').at(-1)})`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const tool of ['debootstrap', 'systemd-nspawn', 'cpio', 'git']) {
    if (run('sh', ['-c', `command -v ${tool}`]).status !== 0)
      return `${tool} is not installed (test/run.sh installs it)`;
  }
  // The harness copies what git ls-files lists. A copied worktree's .git names a
  // folder that is not there, so test for the listing, not for .git.
  const ls = run('git', ['-C', packageRoot(), 'ls-files', '--', 'install.sh']);
  if (ls.status !== 0 || ls.out.trim() !== 'install.sh')
    return `git can't list this checkout's files, which the harness copies (${ls.err.trim() || 'install.sh is not tracked'})`;
  return nspawnReason();
}

test("quick start: on a fresh Debian 12, sudo ./install.sh --demo ends at a prompt in the demo user's container", {
  skip: skipReason(),
  timeout: QUICKSTART_TIMEOUT_MS,
}, async (t) => {
  // npm's CA, where it comes from the environment (as inside test/harness/fresh-debian.sh
  // itself), reaches the harness, which hands it to the fresh Debian.
  const npmCa = process.env['npm_config_cafile'] ? { npm_config_cafile: process.env['npm_config_cafile'] } : {};
  const term = Terminal.spawn(HARNESS, ['./install.sh --demo'], {
    cols: 120,
    rows: 40,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TERM: 'xterm-256color', LANG: 'C.UTF-8', ...npmCa },
  });
  t.after(() => term.kill());
  const started = Date.now();
  // The harness ending before the prompt ends the wait too, with its output.
  const ended = term.exited.then(({ exitCode }) => {
    throw new Error(`the harness exited ${exitCode} before the prompt:\n${term.output.slice(-3000)}`);
  });
  try {
    await Promise.race([term.expect("You are now entering cellsh-demo's container", QUICKSTART_TIMEOUT_MS), ended]);
  } catch (err) {
    if (/debootstrap failed/.test(term.output))
      return t.skip('the Debian mirror is not reachable from here, so no fresh Debian can be built');
    throw err;
  }
  await term.expect(/cellsh-demo@[^:]*:[^$]*\$ /, 60_000);
  t.diagnostic(`install and demo login took ${Math.round((Date.now() - started) / 1000)} s`);
  await term.type(
    'echo "pid1=$(cat /proc/1/comm) user=$(id -un) node=$(node --version) passwd=$(wc -l < /etc/passwd) lo=$( (exec 3<>/dev/tcp/127.0.0.1/9) 2>&1 | grep -o refused)"; exit\r',
  );
  const m = await term.expect(/pid1=(\S+) user=(\S+) node=(v\d+)\S* passwd=(\d+) lo=(\S*)/);
  assert.deepEqual(
    m.slice(1),
    ['cellsh-init', 'cellsh-demo', 'v18', '3', 'refused'],
    "inside the container, on Debian's Node 18, loopback up",
  );
  assert.equal((await term.exited).exitCode, 0);
});

test('on a fresh Debian 12 with OpenSSH, install.sh puts pam_cellsh in /etc/pam.d/sshd and --uninstall gives the file back byte for byte', {
  skip: skipReason(),
  timeout: QUICKSTART_TIMEOUT_MS,
}, (t) => {
  const npmCa = process.env['npm_config_cafile'] ? { npm_config_cafile: process.env['npm_config_cafile'] } : {};
  const script = [
    'set -e',
    'apt-get update -qq >/dev/null',
    'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null 2>&1',
    'cp -p /etc/pam.d/sshd /tmp/sshd.orig',
    './install.sh >/tmp/install.log 2>&1 || { tail -20 /tmp/install.log; exit 1; }',
    // The line sits before "@include common-session", so the module runs before the session modules.
    `awk '/pam_cellsh\\.so/ && !p {p=NR} /^@include common-session/ && !c {c=NR} END {print (p && p < c) ? "placed" : "misplaced"}' /etc/pam.d/sshd`,
    'sshd -t && echo sshd-accepts',
    'grep -c "^Match Group cellsh$" /etc/ssh/sshd_config.d/cellsh-forwarding.conf',
    './install.sh --uninstall >/tmp/uninstall.log 2>&1 || { tail -20 /tmp/uninstall.log; exit 1; }',
    'cmp /tmp/sshd.orig /etc/pam.d/sshd && echo pam-restored',
    '[ ! -e /etc/ssh/sshd_config.d/cellsh-forwarding.conf ] && echo drop-in-gone',
    'sshd -t && echo sshd-accepts',
  ].join('\n');
  const r = run(HARNESS, [script], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', ...npmCa },
    timeoutMs: QUICKSTART_TIMEOUT_MS,
  });
  if (/debootstrap failed/.test(r.err))
    return t.skip('the Debian mirror is not reachable from here, so no fresh Debian can be built');
  assert.equal(r.status, 0, `${r.out}\n${r.err.slice(-3000)}`);
  assert.deepEqual(r.out.trim().split(/\r?\n/), [
    'placed',
    'sshd-accepts',
    '1',
    'pam-restored',
    'drop-in-gone',
    'sshd-accepts',
  ]);
});
