// The helper's seccomp profiles as a process in the container meets them: the
// real seccomp_confine (build/test-seccomp, built by test/run.sh) installs a
// profile and execs test/harness/syscall-probe.c (compiled here with gcc), run
// as an unprivileged user. Each family is refused under default and strict and
// NOT refused unconfined: that control is what lets each check fail.
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../helpers/fixtures.js';

const NOBODY = 65534;
type Profile = 'default' | 'strict' | 'unconfined';
type Verdict = { verdict: string; detail: string };
type Config = readonly [Profile, boolean];
const UNCONFINED: Config = ['unconfined', false];
const DEFAULT: Config = ['default', false];
const NESTED: Config = ['default', true];
const STRICT: Config = ['strict', false];

/** The probe and the wrapper in a folder an unprivileged user can run from, or why not. */
function prepare(): { dir: string; probe: string; wrapper: string } | string {
  const built = join(packageRoot(), 'build', 'test-seccomp');
  if (!existsSync(built)) return 'build/test-seccomp is not built (test/run.sh builds it)';
  if (process.arch !== 'x64') return 'the probe knows the x86-64 system-call ABIs only';
  if (!/^Seccomp:/m.test(readFileSync('/proc/self/status', 'utf8'))) return 'this kernel has no seccomp';
  if (spawnSync('gcc', ['--version']).status !== 0) return 'gcc is not installed';
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-seccomp-'));
  chmodSync(dir, 0o755);
  const probe = join(dir, 'syscall-probe');
  const wrapper = join(dir, 'test-seccomp');
  copyFileSync(built, wrapper);
  chmodSync(wrapper, 0o755);
  const cc = spawnSync(
    'gcc',
    [
      '-std=gnu11',
      '-O1',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-o',
      probe,
      join(packageRoot(), 'test', 'harness', 'syscall-probe.c'),
    ],
    { encoding: 'utf8' },
  );
  if (cc.status !== 0) throw new Error(`can't compile the probe:\n${cc.stderr}`);
  return { dir, probe, wrapper };
}

const setup = prepare();
const skip = typeof setup === 'string' ? setup : false;
const tools = typeof setup === 'string' ? undefined : setup;
after(() => {
  if (tools) rmSync(tools.dir, { recursive: true, force: true });
});

/** Run the wrapper (profile, nested) with args as an unprivileged user. */
function run(config: Config, args: readonly string[], wrapperFlags: readonly string[] = []) {
  const asNobody = process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : {};
  return spawnSync(tools!.wrapper, [...wrapperFlags, config[0], String(config[1]), ...args], {
    encoding: 'utf8',
    cwd: tools!.dir,
    env: { PATH: '/usr/bin:/bin' },
    ...asNobody,
  });
}

/** Run file with args, as root, without blocking the event loop (a server of this process answers it). */
function spawnAsync(file: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve({ stdout, stderr }));
  });
}

/** This process's own seccomp state (mode and filter count), before cellsh's: no
 * filter on a plain host; inside a container the runtime's (systemd-nspawn and
 * docker install one), which the probe meets unconfined too. */
const HOST_SECCOMP = readFileSync('/proc/self/status', 'utf8')
  .split('\n')
  .filter((l) => /^Seccomp(_filters)?:/.test(l));
const HOST_FILTERED = !HOST_SECCOMP.includes('Seccomp:\t0');

const cache = new Map<string, Map<string, Verdict>>();
/** What the probe says under a profile: case -> verdict (the oracle, or --live). */
function probe(config: Config, live = false, args: readonly string[] = []): Map<string, Verdict> {
  const key = JSON.stringify([config, live, args]);
  const hit = cache.get(key);
  if (hit) return hit;
  const r = run(config, [tools!.probe, ...(live ? ['--live'] : []), ...args]);
  assert.equal(r.status, 0, `the probe failed under ${config.join('/')}: ${r.stderr}`);
  const out = new Map(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => {
        const [name, verdict, detail] = l.split(' ');
        return [name!, { verdict: verdict!, detail: detail ?? '' }];
      }),
  );
  cache.set(key, out);
  return out;
}

/** The cases of a family ("keyring" -> keyring/keyctl, ...), never none. */
function casesOf(family: string): string[] {
  const names = [...probe(UNCONFINED).keys()].filter((n) => n.startsWith(`${family}/`));
  assert.ok(names.length > 0, `the probe has no case for ${family}`);
  return names;
}

/** Why these cases can't show what a profile does here, or false: on a host that
 * filters system calls itself, the ones it refuses even unconfined. */
function hostRefuses(names: readonly string[], live = false): string | false {
  if (!HOST_FILTERED) return false;
  const base = probe(UNCONFINED, live);
  const refused = names.filter((n) => base.get(n)?.verdict !== 'allowed');
  if (refused.length === 0) return false;
  const shown =
    refused.length > 4 ? `${refused.slice(0, 4).join(', ')} and ${refused.length - 4} more` : refused.join(', ');
  return `this host's own seccomp filter (${HOST_SECCOMP.join(', ').replace(/\t/g, ' ')} before cellsh's, as in a container) refuses ${shown} even unconfined`;
}

/** Each case of a family has this verdict under config. */
function expectAll(family: string, config: Config, verdict: string, detail?: string): void {
  const got = probe(config);
  for (const name of casesOf(family)) {
    assert.deepEqual(
      got.get(name),
      { verdict, detail: detail ?? got.get(name)?.detail },
      `${name} under ${config.join('/')}`,
    );
  }
}

// Families the default profile refuses whatever nested_userns says.
const DEFAULT_FAMILIES: Array<[string, string]> = [
  ['keyring', 'keyring calls (keyctl, add_key, request_key)'],
  ['bpf-perf', 'bpf and perf_event_open calls'],
  ['userfaultfd', 'userfaultfd calls'],
  ['kernel-load', 'kexec and kernel module calls'],
  ['handles', 'file-handle calls (open_by_handle_at, name_to_handle_at)'],
  ['io_uring', 'io_uring calls'],
  ['host-switches', 'host-wide switches (acct, swapon, swapoff, reboot)'],
  ['clock', 'calls that set or adjust the system clock'],
  ['ioport', 'I/O port calls (iopl, ioperm)'],
  ['host-wide', 'quotactl, syslog, lookup_dcookie and vhangup calls'],
  ['tty', 'TIOCSTI and TIOCLINUX ioctls, high bits set in the request or not'],
  ['personality', "personas other than the runtimes' (ADDR_NO_RANDOMIZE, BSD, ...)"],
  ['sockets', 'vsock and AF_ALG sockets'],
];
for (const [family, what] of DEFAULT_FAMILIES) {
  test(`${what} are refused under the default and strict profiles, with or without nested_userns`, {
    skip,
  }, (t: TestContext) => {
    const host = hostRefuses(casesOf(family));
    if (host) return t.skip(host);
    expectAll(family, UNCONFINED, 'allowed');
    for (const config of [DEFAULT, NESTED, STRICT]) expectAll(family, config, 'refused', 'EPERM');
  });
}

// Families the default profile refuses unless nested_userns is true.
const NESTED_FAMILIES: Array<[string, string]> = [
  ['userns', 'creating a user namespace (unshare, clone)'],
  ['setns', 'joining a namespace (setns)'],
  ['mount', 'the mount family (mount, umount2, pivot_root, fsopen ... open_tree_attr)'],
];
for (const [family, what] of NESTED_FAMILIES) {
  test(`${what} is refused under default and strict, and allowed with nested_userns`, { skip }, (t: TestContext) => {
    const host = hostRefuses(casesOf(family));
    if (host) return t.skip(host);
    expectAll(family, UNCONFINED, 'allowed');
    expectAll(family, DEFAULT, 'refused', 'EPERM');
    expectAll(family, STRICT, 'refused', 'EPERM');
    expectAll(family, NESTED, 'allowed');
    expectAll(family, ['strict', true], 'refused', 'EPERM'); // strict ignores nested_userns
  });
}

// Families only strict refuses.
const STRICT_FAMILIES: Array<[string, string]> = [
  ['ptrace', 'ptrace and reaching into other processes (process_vm_*, kcmp, pidfd_getfd, process_madvise)'],
  ['namespaces', 'new namespaces of every kind (unshare, clone)'],
  ['personality-strict', 'the PER_LINUX32 and UNAME26 personas'],
  ['legacy', 'the legacy calls uselib, ustat and sysfs'],
];
for (const [family, what] of STRICT_FAMILIES) {
  test(`${what} are refused under strict only`, { skip }, (t: TestContext) => {
    const host = hostRefuses(casesOf(family));
    if (host) return t.skip(host);
    expectAll(family, UNCONFINED, 'allowed');
    expectAll(family, DEFAULT, 'allowed');
    expectAll(family, NESTED, 'allowed');
    expectAll(family, STRICT, 'refused', 'EPERM');
  });
}

test('clone3 answers ENOSYS under every filter, so libc falls back to clone', { skip }, () => {
  expectAll('clone3', UNCONFINED, 'allowed', 'EINVAL');
  for (const config of [DEFAULT, NESTED, STRICT]) expectAll('clone3', config, 'refused', 'ENOSYS');
});

test('ordinary calls are left alone under every profile (plain clone, other ioctls, AF_UNIX and AF_INET, PER_LINUX)', {
  skip,
}, (t: TestContext) => {
  const host = hostRefuses(casesOf('control'));
  if (host) return t.skip(host);
  for (const config of [UNCONFINED, DEFAULT, NESTED, STRICT]) expectAll('control', config, 'allowed');
});

test('x32 system calls (nr | 0x40000000) kill the process under default and strict', { skip }, () => {
  assert.equal(probe(UNCONFINED).get('abi/x32-getpid')?.verdict, 'allowed');
  for (const config of [DEFAULT, NESTED, STRICT])
    assert.deepEqual(probe(config).get('abi/x32-getpid'), { verdict: 'killed', detail: 'SYS' });
});

test('i386 system calls (int 0x80) kill the process under default and strict', { skip }, (t: TestContext) => {
  const control = probe(UNCONFINED, true).get('abi/i386-getpid');
  if (control?.verdict !== 'allowed') {
    t.skip(`this kernel doesn't run i386 system calls (int 0x80 ends in SIG${control?.detail} before seccomp sees it)`);
    return;
  }
  assert.equal(probe(UNCONFINED).get('abi/i386-getpid')?.verdict, 'allowed');
  for (const config of [DEFAULT, NESTED, STRICT])
    assert.deepEqual(probe(config).get('abi/i386-getpid'), { verdict: 'killed', detail: 'SYS' });
});

/** Personas to try: each allowed one and its neighbours, every single bit, a spread, high bits. */
function personas(): bigint[] {
  const keep = [0x0n, 0x8n, 0x20000n, 0x20008n, 0xffffffffn];
  const out = new Set<bigint>();
  for (const k of keep) for (const d of [-1n, 0n, 1n]) if (k + d >= 0n && k + d <= 0xffffffffn) out.add(k + d);
  for (let b = 0n; b < 32n; b++) out.add(1n << b);
  let x = 12345n;
  for (let i = 0; i < 24; i++) {
    x = (x * 1103515245n + 12345n) % 2n ** 32n;
    out.add(x);
  }
  for (const k of [0x0n, 0x8n, 0x40000n, 0xffffffffn]) out.add((1n << 32n) | k); // the kernel reads the low half only
  return [...out];
}

test("personality: only the runtimes' personas pass under default, only PER_LINUX and the query under strict", {
  skip,
}, () => {
  const values = personas();
  const args = ['--persona', ...values.map((v) => `0x${v.toString(16)}`)];
  const allowed: Record<Profile, bigint[]> = {
    default: [0x0n, 0x8n, 0x20000n, 0x20008n, 0xffffffffn],
    strict: [0x0n, 0xffffffffn],
    unconfined: [],
  };
  for (const config of [UNCONFINED, DEFAULT, STRICT]) {
    const got = probe(config, false, args);
    for (const v of values) {
      const low = v & 0xffffffffn;
      const want = config[0] === 'unconfined' || allowed[config[0]].includes(low) ? 'allowed' : 'refused';
      assert.equal(
        got.get(`0x${v.toString(16)}`)?.verdict,
        want,
        `personality(0x${v.toString(16)}) under ${config[0]}`,
      );
    }
  }
});

test('the oracle never runs the call it asks about; ERRNO and KILL outrank its TRACE', { skip }, () => {
  const scratch = join(tools!.dir, 'scratch');
  mkdirSync(scratch);
  chmodSync(scratch, 0o1777);
  const target = join(scratch, 'made');
  const oracle = run(UNCONFINED, [tools!.probe, '--mkdir', target]);
  assert.equal(oracle.stdout, 'mkdir allowed ENOSYS\n');
  assert.equal(existsSync(target), false, 'the oracle made the folder');
  const live = run(UNCONFINED, [tools!.probe, '--live', '--mkdir', target]);
  assert.equal(live.stdout, 'mkdir allowed ok\n');
  assert.equal(existsSync(target), true, 'the live call made no folder');
  assert.deepEqual(probe(DEFAULT).get('keyring/keyctl'), { verdict: 'refused', detail: 'EPERM' });
  assert.deepEqual(probe(DEFAULT).get('abi/x32-getpid'), { verdict: 'killed', detail: 'SYS' });
});

test('live: keyctl on the session keyring works unconfined and is refused under default', {
  skip,
}, (t: TestContext) => {
  const host = hostRefuses(['keyring/keyctl'], true);
  if (host) return t.skip(host);
  assert.deepEqual(probe(UNCONFINED, true).get('keyring/keyctl'), { verdict: 'allowed', detail: 'ok' });
  assert.deepEqual(probe(DEFAULT, true).get('keyring/keyctl'), { verdict: 'refused', detail: 'EPERM' });
});

test("live: TIOCSTI on the probe's own pty works unconfined and is refused under default, high bits or not", {
  skip,
}, (t: TestContext) => {
  const control = probe(UNCONFINED, true).get('tty/TIOCSTI');
  if (control?.verdict !== 'allowed' || control.detail !== 'ok') {
    t.skip(
      control?.detail === 'setup'
        ? "the probe can't make a pty of its own here (no devpts mounted?)"
        : `TIOCSTI doesn't work here even unconfined (${control?.detail}; dev.tty.legacy_tiocsti=0?)`,
    );
    return;
  }
  assert.deepEqual(probe(UNCONFINED, true).get('tty/TIOCSTI-high-bits'), { verdict: 'allowed', detail: 'ok' });
  for (const name of ['tty/TIOCSTI', 'tty/TIOCSTI-high-bits'])
    assert.deepEqual(probe(DEFAULT, true).get(name), { verdict: 'refused', detail: 'EPERM' });
});

test('live: unshare of a user namespace works unconfined and with nested_userns, and is refused under default and strict', {
  skip,
}, (t: TestContext) => {
  const control = probe(UNCONFINED, true).get('userns/unshare');
  if (control?.detail !== 'ok') {
    t.skip(`this host refuses unprivileged user namespaces (${control?.detail})`);
    return;
  }
  assert.deepEqual(probe(NESTED, true).get('userns/unshare'), { verdict: 'allowed', detail: 'ok' });
  assert.deepEqual(
    probe(NESTED, true).get('mount/fsopen'),
    { verdict: 'allowed', detail: 'ok' },
    'a mount context inside it',
  );
  for (const config of [DEFAULT, STRICT])
    assert.deepEqual(probe(config, true).get('userns/unshare'), { verdict: 'refused', detail: 'EPERM' });
});

test("live: every harmless form that reaches the kernel unconfined meets the oracle's verdict under each profile", {
  skip,
}, () => {
  const base = probe(UNCONFINED, true);
  const reached = [...base].filter(([, v]) => v.verdict === 'allowed').map(([n]) => n);
  assert.ok(reached.length >= 15, `only ${reached.length} live forms reached the kernel: ${reached.join(', ')}`);
  for (const config of [DEFAULT, NESTED, STRICT]) {
    const live = probe(config, true);
    const oracle = probe(config);
    for (const name of reached)
      assert.equal(live.get(name)?.verdict, oracle.get(name)?.verdict, `${name} under ${config.join('/')}`);
  }
});

test('the filter is in force in the command the wrapper runs, with no_new_privs; unconfined installs none', {
  skip,
}, () => {
  const status = (config: Config): string =>
    run(config, ['grep', '-E', '^(NoNewPrivs|Seccomp|Seccomp_filters):', '/proc/self/status']).stdout;
  assert.match(status(DEFAULT), /^NoNewPrivs:\t1\nSeccomp:\t2\n/);
  assert.match(status(STRICT), /^NoNewPrivs:\t1\nSeccomp:\t2\n/);
  assert.equal(
    status(UNCONFINED),
    ['NoNewPrivs:\t1', ...HOST_SECCOMP, ''].join('\n'),
    'no filter beyond the ones this host puts on every process',
  );
});

test("without no_new_privs an unprivileged process can't install the filter, and says so", { skip }, () => {
  const r = run(DEFAULT, ['true'], ['--keep-privs']);
  assert.equal(r.status, 70);
  assert.equal(r.stderr, 'test-seccomp: can\'t install the "default" seccomp filter: Permission denied\n');
  assert.equal(run(UNCONFINED, ['true'], ['--keep-privs']).status, 0, 'unconfined installs nothing, so needs nothing');
});

test("the NAT's confinement keeps it from the host's abstract Unix sockets (Landlock's scope), where the kernel has it", {
  skip,
}, async (t: TestContext) => {
  // The host's service: a listener on an abstract name (node's net has none), until the test ends.
  const name = `cellsh-t-abstract-${process.pid}`;
  const server = spawn(
    '/usr/bin/python3',
    [
      '-c',
      `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\\0${name}")
s.listen(8)
print("listening", flush=True)
sys.stdin.read()
`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  t.after(() => server.kill());
  await new Promise<void>((resolve, reject) => {
    server.stdout.once('data', () => resolve());
    server.once('exit', () => reject(new Error('the abstract listener did not start')));
  });
  const script = `
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect("\\0${name}")
    print("connected")
except OSError as e:
    print(e.strerror)
`;
  const confined = spawnAsync(tools!.wrapper, ['nat-api', '/usr/bin/python3', '-c', script]);
  const control = spawnAsync(tools!.wrapper, ['unconfined', 'false', '/usr/bin/python3', '-c', script]);
  const [got, plain] = await Promise.all([confined, control]);
  assert.equal(plain.stdout.trim(), 'connected', `control: the same program unconfined reaches it (${plain.stderr})`);
  // The kernel's Landlock ABI, asked apart from the code under test: scopes came with ABI 6.
  const abi = spawnSync(
    '/usr/bin/python3',
    ['-c', 'import ctypes; print(ctypes.CDLL(None).syscall(444, None, 0, 1))'],
    {
      encoding: 'utf8',
    },
  );
  if (Number(abi.stdout) < 6) {
    t.skip(
      `this kernel's Landlock has no scopes (ABI ${abi.stdout.trim()}, 6 is Linux 6.12): the NAT can reach the host's abstract sockets`,
    );
    return;
  }
  assert.match(got.stderr, /landlock scopes: yes/);
  assert.equal(got.stdout.trim(), 'Operation not permitted', got.stderr);
});
