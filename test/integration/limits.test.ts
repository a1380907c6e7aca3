// Resource limits that hold for every login, on cgroup v1 (this host's kernel)
// and on cgroup v2 (Debian's kernel under qemu, with and without systemd),
// through the same helper binary and the same scenario
// (test/harness/limits-scenario.sh); then the same limits through real logins
// on this host.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mustApply, skipReason, testInstall, type TestInstall } from '../helpers/install.js';
import { containerRecord, createUser, type TestUser } from '../helpers/users.js';
import { runAsync } from '../helpers/system.js';
import { packageRoot } from '../helpers/fixtures.js';
import { cellshCommand, interactiveLogin, runTyped } from '../helpers/session.js';

const inst = testInstall();
const skip = skipReason(inst);
const harness = (name: string): string => join(packageRoot(), 'test', 'harness', name);
const v1 = existsSync('/sys/fs/cgroup/pids/cgroup.procs');
const skipV1 = skip || (v1 ? false : 'this host has no cgroup v1 hierarchies (v2 runs in the VM tests below)');

/** Why the VM can't run here, or false. */
function vmSkipReason(): string | false {
  if (skip) return skip;
  if (!existsSync('/usr/bin/qemu-system-x86_64')) return 'qemu-system-x86 is not installed (test/run.sh installs it)';
  if (!existsSync('/bin/busybox')) return 'busybox-static is not installed (test/run.sh installs it)';
  if (!readdirSync('/boot').some((f) => /^vmlinuz-.*-amd64$/.test(f)))
    return 'no Debian kernel in /boot (test/run.sh installs linux-image-amd64)';
  return false;
}

/** CPU seconds the unlimited control must get in the scenario's 3 s for the cpu
 * check to mean anything: above the limited load's 2.1 at most, with room. */
const CPU_CONTROL_MIN_S = 2.6;

/** The scenario's "result KEY VALUE" lines (newlines inside a value are "|"). */
type Results = ReadonlyMap<string, string>;

function parseResults(text: string): Results {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^result (\S+) ?(.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

function scenarioEnv(i: TestInstall): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    CELLSH_HELPER: i.helper,
    CELLSH_ADMIN: i.admin,
    CELLSH_POLICY: i.policyFile,
    CELLSH_LOG: i.logFile,
    CELLSH_STATE_DIR: i.stateDir,
    CELLSH_CGROUP_NAME: i.cgroupName,
    CELLSH_UNIT_DIR: join(i.root, 'etc', 'systemd', 'system'),
    CELLSH_NODE: process.execPath,
  };
}

/** The two users every scenario needs: A with tight limits, B with roomy ones. */
function scenarioUsers(t: TestContext, tag: string): [TestUser, TestUser] {
  return [createUser(t, inst!, `lim${tag}a`), createUser(t, inst!, `lim${tag}b`)];
}

/** Run a guest script in a cgroup v2 VM with the two users; the console is kept for failure messages. */
async function runInVm(
  t: TestContext,
  tag: string,
  opts: { systemd?: boolean; append?: string; script?: string } = {},
): Promise<{ r: Results; a: TestUser }> {
  const [a, b] = scenarioUsers(t, tag);
  const dir = mkdtempSync('/var/tmp/cellsh-t-vm-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = join(dir, 'env');
  writeFileSync(
    env,
    Object.entries(scenarioEnv(inst!))
      .map(([k, v]) => `export ${k}=${v}\n`)
      .join(''),
  );
  const r = await runAsync(
    harness('cgroup2-vm.sh'),
    [
      ...(opts.systemd ? ['--systemd'] : []),
      ...(opts.append ? ['--append', opts.append] : []),
      harness(opts.script ?? 'limits-vm.sh'),
      env,
      a.name,
      b.name,
    ],
    { timeout: 900_000 },
  );
  const results = parseResults(r.out);
  assert.equal(
    results.get('vm_end'),
    'ok',
    `the VM run did not finish (status ${r.status}):\n${r.out.slice(-3000)}\n${r.err.slice(-2000)}`,
  );
  return { r: results, a };
}

/** What one run of the scenario shows about the limits. */
async function checkLimits(
  t: TestContext,
  r: Results,
  h: { version: 'v1' | 'v2'; systemd: boolean; a: string; uidA: number },
): Promise<void> {
  const get = (key: string): string => {
    const v = r.get(key);
    assert.notEqual(v, undefined, `the scenario printed no "${key}"`);
    return v!;
  };
  const name = inst!.cgroupName;
  await t.test('limits: each container has its own root-owned cgroup, in place before its first process runs', () => {
    assert.equal(get('policy').trim(), '0', 'the scenario wrote its policies');
    assert.match(get('apply'), /^0 /);
    const [status, cgroup] = get('first').split(' ');
    assert.equal(status, '0', get('first'));
    if (h.version === 'v2') {
      assert.match(cgroup!, /^0::\/\|/, 'inside, the cgroup namespace shows its own root');
      const base = h.systemd ? `/${name}.slice/${name}.service` : `/${name}`;
      assert.equal(get('init_cgroup'), `0::${base}/u${h.uidA}`);
      assert.match(get('hierarchy'), new RegExp(`^v2 /sys/fs/cgroup${base}$`));
      assert.match(get('subtree_control'), /memory/);
      assert.match(get('subtree_control'), /pids/);
      assert.match(get('subtree_control'), /cpu/);
    } else {
      // The path ends in the container's leaf. A host that is itself a container
      // given a subtree of each hierarchy (systemd-nspawn, as test/harness/fresh-debian.sh
      // runs it) shows the folders above it too: /cellsh-fresh-PID/NAME/uUID.
      assert.match(get('init_cgroup'), new RegExp(`:pids:/(?:[^|]*/)?${name}/u${h.uidA}(\\||$)`));
      assert.match(get('init_cgroup'), new RegExp(`:memory:/(?:[^|]*/)?${name}/u${h.uidA}(\\||$)`));
    }
    assert.equal(
      get('nodes_owner'),
      'root 755|root 644|root 644',
      "the leaf and its files are root's: the user can't write them",
    );
  });

  await t.test(
    "limits: the policy's memory, memory_high, swap, cpu, pids, io and rlimits are what the kernel enforces",
    () => {
      const first = get('first');
      assert.match(first, /nofile 512 1024 nproc \d+ \d+ core 0 0/);
      const [, nprocSoft, nprocHard] = /nproc (\d+) (\d+)/.exec(first)!.map(Number);
      assert.ok(
        nprocSoft! <= 2000 && nprocHard! <= 3000 && nprocSoft! <= nprocHard!,
        `nproc ${nprocSoft} ${nprocHard} within the policy's 2000/3000`,
      );
      const dev = get('io_device');
      if (h.version === 'v2') {
        assert.equal(get('file_memory.max'), String(64 * 2 ** 20));
        assert.equal(get('file_memory.high'), String(56 * 2 ** 20));
        assert.equal(get('file_memory.swap.max'), '0');
        assert.equal(get('file_pids.max'), '40');
        assert.equal(get('file_cpu.max'), '50000 100000');
        if (dev !== 'none') assert.match(get('file_io.max'), /^\d+:\d+ rbps=max wbps=2097152 riops=max wiops=max$/);
      } else {
        assert.equal(get('file_memory.limit_in_bytes'), String(64 * 2 ** 20));
        assert.equal(get('file_memory.soft_limit_in_bytes'), String(56 * 2 ** 20));
        assert.equal(get('file_pids.max'), '40');
        assert.equal(get('file_cpu.cfs_quota_us'), '50000');
        if (dev !== 'none') assert.match(get('file_blkio.throttle.write_bps_device'), /^\d+:\d+ 2097152$/);
      }
    },
  );

  await t.test('limits: a fork bomb stops at the pids limit', () => {
    const [status, forked, errno] = get('forkbomb').split(' ').map(Number);
    assert.equal(status, 0, get('forkbomb_err'));
    assert.equal(errno, 11, 'fork fails with EAGAIN at the limit');
    assert.ok(
      forked! >= 30 && forked! < 40,
      `forked ${forked} before the limit of 40 (init, shell and python count too)`,
    );
  });

  await t.test('limits: a memory hog is killed inside the container only', () => {
    assert.equal(get('hog'), '137 ', 'the hog dies of SIGKILL before it finishes');
    assert.equal(get('after_hog'), '0 cellsh-init', 'the container and its init live on');
    assert.equal(get('hog_other'), '0 survived', 'another user with a roomier limit can do it');
  });

  await t.test('limits: a cpu-bound loop gets its share and no more', (st) => {
    const [status, used] = get('cpu').split(' ').map(Number);
    const [otherStatus, other] = get('cpu_other').split(' ').map(Number);
    assert.equal(status, 0, `the limited load: ${get('cpu')}`);
    assert.equal(otherStatus, 0, `the unlimited load: ${get('cpu_other')}`);
    assert.ok(Number.isFinite(other) && Number.isFinite(used), `CPU seconds: ${get('cpu')}; ${get('cpu_other')}`);
    // The control needs more CPU free than the limit gives, with room to tell
    // them apart: a busy machine (other runs, the containers of a host that is
    // itself one) or a single core can't show what the limit holds back.
    if (other < CPU_CONTROL_MIN_S)
      return st.skip(
        `the same load without the limit got only ${other} CPU seconds in 3 s (${used} with it): too little CPU free here to show the limit`,
      );
    // Two spinning processes for 3 s: 0.5 CPU gives about 1.5 CPU seconds.
    assert.ok(used > 1.0 && used < 2.1, `used ${used} CPU seconds in 3 s at a 0.5 CPU limit (expected about 1.5)`);
    assert.ok(
      other > used + 1,
      `the same load without that limit used ${other} CPU seconds (the limit, not the machine, held it)`,
    );
  });

  await t.test('limits: disk writes are held to the bandwidth limit', (st) => {
    if (get('io_device') === 'none') return st.skip('the home is not on a block device here');
    const [status, ddStatus, seconds] = get('io').split(' ').map(Number);
    const [cstatus, control] = get('io_control').split(' ').map(Number);
    assert.equal(status, 0);
    assert.equal(ddStatus, 0, 'dd succeeds');
    assert.equal(cstatus, 0);
    // 8 MiB at 2 MiB/s takes about 4 s; the same write outside the container much less.
    assert.ok(seconds! >= 3, `8 MiB written in ${seconds} s at a 2 MiB/s limit`);
    assert.ok(control! < seconds! / 2, `the same write outside the container took ${control} s`);
  });

  await t.test("limits: the user can't raise, leave or remount their limits (inside or on the host)", () => {
    assert.equal(
      get('inside_escape'),
      '0 cgroup mounts 0|done',
      'no cgroup file system inside, and none can be mounted',
    );
    assert.equal(get('host_escape'), 'done', 'as the user on the host: no write to the limits, no move, no sub-cgroup');
  });

  if (h.version === 'v1') {
    await t.test('limits: no v1 hierarchy, so no release_agent or notify_on_release, is reachable from inside', () => {
      assert.match(get('inside_escape'), /\|?cgroup mounts 0\|/, 'no cgroup file system is mounted in the container');
      assert.doesNotMatch(get('inside_escape'), /mounted cgroup v1/, "and a v1 hierarchy can't be mounted there");
    });
  }

  await t.test('limits: the session says which limit was reached, and the event is logged', () => {
    assert.match(
      get('forkbomb_err'),
      /cellsh: your container reached its limit of 40 processes and threads: some could not start/,
    );
    assert.match(
      get('hog_err'),
      /cellsh: your container reached its memory limit \(64M\): the kernel ended 1 process to free memory/,
    );
    assert.match(
      get('live_notice'),
      /^cellsh: your container reached its limit of 40 processes and threads: some could not start\|after$/,
      'the line comes while the session goes on',
    );
    assert.ok(Number(get('log_oom')) >= 1, 'an oom event in the log');
    assert.ok(Number(get('log_pids')) >= 1, 'a pids-limit event in the log');
  });

  await t.test('limits: cellsh-admin ps shows memory, cpu and pids use against the limits', () => {
    const [status, ...json] = get('ps').split(' ');
    assert.equal(status, '0', json.join(' '));
    const ps = JSON.parse(json.join(' ')) as {
      cgroup: { version: string };
      containers: Array<Record<string, unknown> & { user: string }>;
    };
    assert.equal(ps.cgroup.version, h.version);
    const row = ps.containers.find((c) => c.user === h.a);
    assert.ok(row, `a row for ${h.a}: ${json.join(' ')}`);
    const m = row['memory'] as { used: number; limit: number };
    assert.ok(m.used > 20 * 2 ** 20 && m.used <= 64 * 2 ** 20, `memory used ${m.used}`);
    assert.equal(m.limit, 64 * 2 ** 20);
    assert.deepEqual((row['cpu'] as { limit: number }).limit, 0.5);
    const p = row['pids'] as { used: number; limit: number };
    assert.ok(p.used >= 2 && p.used < 40, `pids used ${p.used}`);
    assert.equal(p.limit, 40);
    assert.ok((row['oom_kills'] as number) >= 1);
    assert.ok((row['pids_limit_hits'] as number) >= 1);
  });

  await t.test('limits: a policy change reaches the running container live (stricter, looser, dropped)', () => {
    assert.match(get('live_apply'), /^0 /);
    assert.equal(get('live_update'), '0 live ');
    assert.equal(get('live_same'), 'yes', 'the same container: no restart');
    if (h.version === 'v2') {
      assert.equal(get('live_memory.max'), String(96 * 2 ** 20));
      assert.equal(get('live_memory.high'), 'max');
      assert.equal(get('live_pids.max'), '30');
      assert.equal(get('live_cpu.max'), 'max 100000');
      assert.equal(get('live_io.max'), '', 'the dropped disk limit is gone');
    } else {
      assert.equal(get('live_memory.limit_in_bytes'), String(96 * 2 ** 20));
      assert.equal(get('live_memory.soft_limit_in_bytes'), '9223372036854771712');
      assert.equal(get('live_pids.max'), '30');
      assert.equal(get('live_cpu.cfs_quota_us'), '-1');
      assert.equal(get('live_blkio.throttle.write_bps_device'), '', 'the dropped disk limit is gone');
    }
  });

  const noWeights = get('kernel_io_weight') === 'no' && 'this kernel has no disk weights (no BFQ, no io.cost)';
  await t.test('limits: a disk weight is set where the kernel has one', { skip: noWeights }, () => {
    assert.match(get('io_weight'), /^0 in/);
    assert.match(get('file_io_weight'), h.version === 'v2' ? /^default 50$/ : /^(default )?50$/);
  });

  await t.test(
    "limits: a disk weight the kernel can't give refuses the login and says why",
    { skip: !noWeights && 'this kernel has disk weights' },
    () => {
      assert.match(get('io_weight'), /^77 {2}cellsh: can't apply the io_weight limit: this kernel has no/);
    },
  );

  await t.test('limits doctor reports the cgroup version, the controllers and the delegation', () => {
    const doctor = get('doctor');
    const json = JSON.parse(doctor.slice(doctor.indexOf('{'))) as {
      findings: Array<{ status: string; area: string; message: string }>;
    };
    const cg = json.findings.filter((f) => f.area === 'cgroup');
    const text = cg.map((f) => `${f.status} ${f.message}`).join('\n');
    if (h.version === 'v1') assert.match(text, /^ok cgroup v1 \(legacy hierarchies\)/m);
    else if (h.systemd)
      assert.match(
        text,
        new RegExp(
          `^ok cgroup v2; systemd delegates /sys/fs/cgroup/${name}\\.slice/${name}\\.service to cellsh \\(${name}\\.service is active, Delegate=yes\\)`,
          'm',
        ),
      );
    else
      assert.match(
        text,
        new RegExp(`^ok cgroup v2 without systemd: cellsh manages /sys/fs/cgroup/${name} itself`, 'm'),
      );
    assert.match(text, /^ok controllers the containers can get: .*memory.*/m);
    assert.doesNotMatch(text, /^fail/m);
  });
}

test("limits on cgroup v1 (this host's kernel)", { skip: skipV1 }, async (t) => {
  const [a, b] = scenarioUsers(t, '1');
  const r = await runAsync('bash', [harness('limits-scenario.sh'), a.name, b.name], {
    env: scenarioEnv(inst!),
    timeout: 300_000,
  });
  const results = parseResults(r.out);
  assert.equal(results.get('end'), 'ok', `the scenario did not finish (status ${r.status}):\n${r.out}\n${r.err}`);
  await checkLimits(t, results, { version: 'v1', systemd: false, a: a.name, uidA: a.uid });
});

test("limits on cgroup v2 without systemd (Debian's kernel under qemu)", { skip: vmSkipReason() }, async (t) => {
  const { r, a } = await runInVm(t, '2');
  await checkLimits(t, r, { version: 'v2', systemd: false, a: a.name, uidA: a.uid });
});

test("limits on cgroup v2 under systemd, in the cgroup cellsh.service delegates (Debian's kernel under qemu)", {
  skip: vmSkipReason(),
}, async (t) => {
  const { r, a } = await runInVm(t, '3', { systemd: true });
  await checkLimits(t, r, { version: 'v2', systemd: true, a: a.name, uidA: a.uid });
  const name = inst!.cgroupName;
  await t.test("limits: systemd delegates the unit's cgroup and leaves it alone across a reload", () => {
    const unit = r.get('unit_start')!;
    assert.match(unit, /^0 /);
    for (const p of ['ActiveState=active', 'Delegate=yes', `ControlGroup=/${name}.slice/${name}.service`])
      assert.ok(unit.split(/[ |]/).includes(p), `${p} in ${unit}`);
    // The UDP ports of publish.udp are kept again at boot: `cellsh-helper ports` ran, and succeeded.
    assert.match(
      r.get('unit_ports')!,
      /path=\S+\/cellsh-helper ; argv\[\]=\S+\/cellsh-helper ports ;.* code=exited ; status=0 \}/,
    );
    const [status, cgroup, pidsMax, id, idBefore] = r.get('after_reload')!.split(' ');
    assert.equal(status, '0');
    assert.equal(cgroup, '0::/');
    assert.equal(
      pidsMax,
      '30',
      'the limit (the scenario last applied pids 30) is still in place after systemctl daemon-reload',
    );
    assert.equal(id, idBefore, 'the same container is joined');
  });
  await t.test('limits: without the delegated cgroup the login is refused, never run unlimited', () => {
    assert.equal(r.get('stopped_unit'), 'init gone leaf gone', 'stopping the unit stops the containers in it');
    const refused = r.get('refused_without_unit')!;
    assert.match(refused, /^77 /);
    assert.match(
      refused,
      new RegExp(
        `the cgroup systemd delegates to ${name}\\.service, is missing; ask your administrator to run "systemctl enable --now ${name}\\.service"`,
      ),
    );
    assert.equal(r.get('after_restart'), '0 in');
  });
});

test('limits: (v2) a controller the kernel lacks refuses the logins whose limits need it, and names it', {
  skip: vmSkipReason(),
}, async (t) => {
  const { r } = await runInVm(t, '5', { append: 'cgroup_disable=memory', script: 'limits-refused.sh' });
  assert.doesNotMatch(r.get('controllers')!, /memory/, 'booted without the memory controller');
  assert.equal(r.get('apply'), '0');
  const limited = r.get('limited')!;
  assert.match(limited, /^77 /);
  assert.match(
    limited,
    /cellsh: can't apply the memory limit: the memory controller is not available in "\/sys\/fs\/cgroup"; ask your administrator to run "cellsh-admin doctor"/,
  );
  assert.equal(r.get('leaf_a'), 'none', 'no container was made, limited or not');
  assert.equal(r.get('unlimited'), '0 in ', 'a user whose policy needs no memory controller logs in');
});

test("limits: (v1) on a host that swaps, a swap limit v1 can't enforce refuses the login and says why", {
  skip: skipV1,
}, async (t) => {
  const file = '/var/tmp/cellsh-t-swapfile';
  t.after(async () => {
    await runAsync('swapoff', [file]);
    rmSync(file, { force: true });
  });
  for (const [cmd, args] of [
    ['dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', 'count=32', 'status=none']],
    ['chmod', ['600', file]],
    ['mkswap', [file]],
    ['swapon', [file]],
  ] as const) {
    const r = await runAsync(cmd, [...args]);
    if (r.status !== 0) return t.skip(`can't turn on swap here (${cmd}: ${r.err.trim()})`);
  }
  const user = createUser(t, inst!, 'lim6');
  const login = async (limits: string): Promise<{ status: number; err: string }> => {
    writeFileSync(inst!.policyFile, `users:\n  ${user.name}:\n    limits: ${limits}\n`);
    assert.equal((await runAsync(inst!.admin, ['apply'])).status, 0);
    await runAsync(inst!.helper, ['stop', String(user.uid)]);
    return runAsync('setpriv', [
      '--reuid',
      String(user.uid),
      '--regid',
      String(user.gid),
      '--init-groups',
      '--reset-env',
      '--',
      inst!.helper,
      'run',
      'true',
    ]);
  };
  const refused = await login('{memory: unlimited, swap: 0}');
  assert.equal(refused.status, 77);
  assert.match(
    refused.err,
    /cellsh: can't apply the swap limit: on cgroup v1 it needs a memory limit too; ask your administrator to set limits\.memory, or limits\.swap to unlimited/,
  );
  assert.equal(
    (await login('{memory: unlimited, swap: unlimited}')).status,
    0,
    'without the swap limit the same user logs in',
  );
  assert.equal((await login('{memory: 256M, swap: 0}')).status, 0, 'with a memory limit, memory+swap is capped');
  assert.equal(
    readFileSync(`/sys/fs/cgroup/memory/${inst!.cgroupName}/u${user.uid}/memory.memsw.limit_in_bytes`, 'utf8').trim(),
    String(256 * 2 ** 20),
  );
});

test('limits: an interactive session shows the limit line on the terminal', { skip: skipV1 }, async (t) => {
  const user = createUser(t, inst!, 'lim4');
  writeFileSync(inst!.policyFile, `users:\n  ${user.name}:\n    limits: {pids: 20}\n`);
  assert.equal((await runAsync(inst!.admin, ['apply'])).status, 0);
  const term = await interactiveLogin(user);
  t.after(() => term.kill());
  // One typed line: python reads the \n escapes inside its own string literal.
  const forker =
    'import os, time\\nfor i in range(40):\\n try:\\n  if os.fork() == 0: time.sleep(2); os._exit(0)\\n except OSError: pass';
  await runTyped(term, user, `python3 -c 'exec("${forker}")'`);
  // The line arrives while the shell goes on, whole on the raw terminal: CR LF, not a bare LF.
  await term.expect(
    /\r\ncellsh: your container reached its limit of 20 processes and threads: some could not start\r\n/,
    5000,
  );
});

// Through real logins on this host's cgroup v1: each limit holds from the
// container's very first process, and is stopped inside the container only.

/** The cgroup v1 file of a user's container for one controller, if this host has v1 there. */
function cgroupFile(i: TestInstall, user: TestUser, controller: string, file: string): string {
  return `/sys/fs/cgroup/${controller}/${i.cgroupName}/u${user.uid}/${file}`;
}

test('limits: a fork loop in the first login stops at the pids limit', { skip: skipV1 }, async (t) => {
  const user = createUser(t, inst!, 'lim-pids');
  mustApply(inst!, `users:\n  ${user.name}:\n    limits: {pids: 40}\n`);
  const forker = [
    'import os, sys, time',
    'kids = []',
    'err = 0',
    'try:',
    '    for i in range(500):',
    '        pid = os.fork()',
    '        if pid == 0:',
    '            time.sleep(30)',
    '            os._exit(0)',
    '        kids.append(pid)',
    'except OSError as e:',
    '    err = e.errno',
    'print(len(kids), err)',
    'for k in kids: os.kill(k, 9)',
  ].join('\n');
  // The first process of a brand-new container: the limit is there before it.
  assert.equal(containerRecord(inst!, user), undefined);
  const r = await cellshCommand(inst!, user, `python3 -c '${forker}'`);
  assert.equal(r.status, 0, r.err);
  const [forked, errno] = r.out.trim().split(' ').map(Number);
  assert.equal(errno, 11, 'fork fails with EAGAIN at the limit');
  assert.ok(
    forked! >= 30 && forked! < 40,
    `forked ${forked} before the limit of 40 (init, shell and python count too)`,
  );
  assert.equal(readFileSync(cgroupFile(inst!, user, 'pids', 'pids.max'), 'utf8').trim(), '40');
  assert.equal((await cellshCommand(inst!, user, 'echo still-fine')).out, 'still-fine\n', 'the container lives on');
});

test('limits: an allocation past the memory limit is killed inside the container only; the host and others carry on', {
  skip: skipV1,
}, async (t) => {
  const user = createUser(t, inst!, 'lim-mem');
  const other = createUser(t, inst!, 'lim-memother');
  mustApply(inst!, `users:\n  ${user.name}:\n    limits: {memory: 64M}\n`);
  const hog = 'python3 -c "b = [bytearray(8 << 20) for _ in range(64)]; print(\'survived\')"';
  const r = await cellshCommand(inst!, user, hog);
  assert.equal(r.status, 137, `the hog dies of SIGKILL (the OOM killer): ${r.out}${r.err}`);
  assert.doesNotMatch(r.out, /survived/);
  const limit = Number(readFileSync(cgroupFile(inst!, user, 'memory', 'memory.limit_in_bytes'), 'utf8'));
  assert.equal(limit, 64 * 1024 * 1024);
  assert.match(
    readFileSync(cgroupFile(inst!, user, 'memory', 'memory.oom_control'), 'utf8'),
    /^oom_kill [1-9]/m,
    "the OOM killer acted in this container's cgroup",
  );
  const after = await cellshCommand(inst!, user, 'cat /proc/1/comm; echo alive');
  assert.equal(after.out, 'cellsh-init\nalive\n', 'the container and its init survive');
  // Another user, with the default 2G limit, can do what the hog could not.
  const big = await cellshCommand(inst!, other, hog);
  assert.equal(big.out, 'survived\n', big.err);
});

test('limits: a cpu-bound container gets its share of CPU and no more', { skip: skipV1 }, async (t) => {
  const user = createUser(t, inst!, 'lim-cpu');
  mustApply(inst!, `users:\n  ${user.name}:\n    limits: {cpu: 0.5}\n`);
  // Two busy processes for 3 s of wall time: unlimited they would use about 6 CPU
  // seconds on two cores (at least 3 on one); at 0.5 CPU they get about 1.5.
  const burn = [
    'import os, time',
    'def spin(t):',
    '    end = time.time() + t',
    '    while time.time() < end: pass',
    'kids = []',
    'for i in range(2):',
    '    pid = os.fork()',
    '    if pid == 0:',
    '        spin(3); os._exit(0)',
    '    kids.append(pid)',
    'for k in kids: os.waitpid(k, 0)',
    't = os.times()',
    'print(round(t.children_user + t.children_system, 2))',
  ].join('\n');
  const r = await cellshCommand(inst!, user, `python3 -c '${burn}'`);
  assert.equal(r.status, 0, r.err);
  const used = Number(r.out.trim());
  assert.ok(used > 1.0 && used < 2.1, `used ${used} CPU seconds in 3 s at a 0.5 CPU limit (expected about 1.5)`);
  assert.equal(readFileSync(cgroupFile(inst!, user, 'cpu', 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
});
