// What users would pick instead, from Debian's packages, set up the same way for
// every run: a busybox root for unshare+chroot, bwrap and crun; a running
// container to nsenter, crun exec and lxc-attach into. Where one cannot run on
// this host the reason goes into the table instead of a number.
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from '../timer.js';

/** A baseline's command, or why it has none here. */
export type Baseline = { readonly cmd: Command } | { readonly reason: string };

export interface Baselines {
  readonly unshare: Baseline;
  readonly nsenter: Baseline;
  readonly bwrap: Baseline;
  readonly crunRun: Baseline;
  readonly crunExec: Baseline;
  readonly lxcAttach: Baseline;
  /** A sleeping unshare+chroot container (argv, run as `uid`), for the memory baseline. */
  readonly idle: { readonly argv: readonly string[]; readonly uid: number } | undefined;
  /** crun needs the legacy cgroup view here: said under the tables. */
  readonly legacyNote: string | undefined;
  /** Stops what was started and removes what was made. */
  stop(): void;
}

const CRUN_ID = 'cellsh-bench';
/** What every baseline runs in its container: what cellsh runs for `cellsh -c true`. */
export const LOGIN_TRUE = ['/bin/bash', '-c', 'true'] as const;
const CGROUP = 'cellsh-bench';

/** Runs argv to its end; ok and what it printed. */
function sh(...argv: string[]): { ok: boolean; text: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    timeout: 30_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { ok: r.status === 0, text: `${r.stderr ?? ''}${r.stdout ?? ''}${r.error ? String(r.error) : ''}`.trim() };
}

/** The same command in a private mount namespace without the cgroup2 mount of a hybrid host. */
export function legacyView(args: readonly string[]): string[] {
  return [
    '/usr/bin/unshare',
    '-m',
    '--propagation',
    'private',
    '/bin/sh',
    '-c',
    'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec "$@"',
    'sh',
    ...args,
  ];
}

/** A small root: static busybox and its applets, and bash; owned by root, readable by all. */
function makeRootfs(dir: string): string | undefined {
  const busybox = '/bin/busybox';
  if (!existsSync(busybox)) return 'busybox-static is not installed';
  if (!/not a dynamic executable|statically linked/.test(sh('/usr/bin/ldd', busybox).text))
    return `${busybox} is not static (install busybox-static)`;
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc'])
    mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  copyFileSync(busybox, join(dir, 'bin/busybox'));
  chmodSync(join(dir, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'true', 'sleep', 'cat']) symlinkSync('busybox', join(dir, 'bin', a));
  mkdirSync(join(dir, 'usr/bin'), { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  return copyBash(dir);
}

/** The host's bash and the libraries it links, so every baseline runs what a
 * login runs (`bash -c true`), not a cheaper program. */
function copyBash(dir: string): string | undefined {
  const ldd = sh('/usr/bin/ldd', '/bin/bash');
  if (!ldd.ok) return `ldd /bin/bash failed: ${ldd.text}`;
  const files = ['/bin/bash', ...[...ldd.text.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!)];
  for (const f of files) {
    const to = join(dir, f);
    mkdirSync(dirname(to), { recursive: true, mode: 0o755 });
    copyFileSync(f, to);
    chmodSync(to, 0o755);
  }
  return undefined;
}

/** The pid whose parent is `pid` (unshare --fork's child), waiting for it to appear. */
function childOf(pid: number): number | undefined {
  for (let i = 0; i < 100; i++) {
    try {
      const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
      if (kids) return Number(kids.split(' ')[0]);
    } catch {
      return undefined;
    }
    spawnSync('/bin/sleep', ['0.02']);
  }
  return undefined;
}

export function ociConfig(rootfs: string, args: readonly string[], cgroup: string): string {
  return JSON.stringify({
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/bin'],
      cwd: '/',
      noNewPrivileges: true,
      capabilities: { bounding: [], effective: [], permitted: [] },
    },
    root: { path: rootfs, readonly: true },
    hostname: 'bench',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755', 'size=64k'] },
    ],
    linux: {
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'user', 'cgroup'].map((type) => ({ type })),
      cgroupsPath: `/${CGROUP}/${cgroup}`,
      resources: { memory: { limit: 512 << 20 }, pids: { limit: 512 }, cpu: { shares: 512 } },
    },
  });
}

const LXC_CONFIG = (rootfs: string): string => `lxc.uts.name = bench
lxc.rootfs.path = dir:${rootfs}
lxc.idmap = u 0 100000 65536
lxc.idmap = g 0 100000 65536
lxc.net.0.type = empty
lxc.mount.auto = proc:mixed sys:ro
lxc.autodev = 1
lxc.init.cmd = /bin/sleep 1000000
lxc.cgroup.memory.limit_in_bytes = 512M
lxc.cgroup.pids.max = 512
lxc.cgroup.cpu.shares = 512
lxc.cgroup2.memory.max = 512M
lxc.cgroup2.pids.max = 512
lxc.apparmor.profile = unconfined
`;

/** cgroup folders named `name` (and their children), deepest first, in every hierarchy. */
function removeCgroupTree(name: string): void {
  const roots = existsSync('/sys/fs/cgroup/cgroup.procs')
    ? ['/sys/fs/cgroup']
    : readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d));
  const rm = (dir: string): void => {
    let kids: string[] = [];
    try {
      kids = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => join(dir, e.name));
    } catch {
      return;
    }
    kids.forEach(rm);
    try {
      rmdirSync(dir);
    } catch {
      // busy or gone: reported by the leftover check
    }
  };
  for (const r of roots) if (existsSync(join(r, name))) rm(join(r, name));
}

/** Everything lxc leaves in the cgroup roots that was not there before it ran. */
function cgroupRootEntries(): Set<string> {
  const roots = existsSync('/sys/fs/cgroup/cgroup.procs')
    ? ['/sys/fs/cgroup']
    : readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d));
  const names = new Set<string>();
  for (const r of roots) {
    try {
      for (const e of readdirSync(r, { withFileTypes: true })) if (e.isDirectory()) names.add(join(r, e.name));
    } catch {
      // not a hierarchy
    }
  }
  return names;
}

/** Sets up every baseline under `work`, running as `uid` where a user could run it. */
export function setUpBaselines(work: string, uid: number): Baselines {
  const rootfs = join(work, 'rootfs');
  const noRoot = makeRootfs(rootfs);
  const stops: Array<() => void> = [];
  const none = (reason: string): Baseline => ({ reason });
  if (noRoot)
    return {
      unshare: none(noRoot),
      nsenter: none(noRoot),
      bwrap: none(noRoot),
      crunRun: none(noRoot),
      crunExec: none(noRoot),
      lxcAttach: none(noRoot),
      idle: undefined,
      legacyNote: undefined,
      stop: () => undefined,
    };
  const has = (p: string): boolean => existsSync(p);
  const unshareArgs = [
    '/usr/bin/unshare',
    '--user',
    '--map-root-user',
    '--pid',
    '--fork',
    '--mount',
    '--uts',
    '--ipc',
    '--net',
    '--cgroup',
  ];

  const unshare: Baseline = {
    cmd: { name: 'unshare', uid, argv: [...unshareArgs, '/usr/sbin/chroot', rootfs, ...LOGIN_TRUE] },
  };

  // nsenter: into a container started by unshare (as the user), which runs sleep.
  let nsenter: Baseline;
  const idle = [...unshareArgs, '--kill-child', '/usr/sbin/chroot', rootfs, '/bin/sleep', '1000000'];
  const target = spawn(idle[0]!, idle.slice(1), {
    uid,
    gid: uid,
    env: { PATH: '/usr/bin:/bin' },
    stdio: 'ignore',
    detached: true,
  });
  const inner = target.pid ? childOf(target.pid) : undefined;
  if (inner) {
    stops.push(() => {
      try {
        process.kill(inner, 'SIGKILL');
      } catch {
        /* gone */
      }
    });
    nsenter = {
      cmd: {
        name: 'nsenter',
        uid,
        argv: [
          '/usr/bin/nsenter',
          '-t',
          String(inner),
          '--user',
          '--preserve-credentials',
          '--pid',
          '--mount',
          '--uts',
          '--ipc',
          '--net',
          '--cgroup',
          '--root',
          '--wd',
          ...LOGIN_TRUE,
        ],
      },
    };
  } else {
    nsenter = none('the unshare container to enter did not start');
    if (target.pid)
      try {
        process.kill(target.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
  }
  target.unref();

  const bwrap: Baseline = has('/usr/bin/bwrap')
    ? {
        cmd: {
          name: 'bwrap',
          uid,
          argv: [
            '/usr/bin/bwrap',
            '--unshare-all',
            '--ro-bind',
            rootfs,
            '/',
            '--proc',
            '/proc',
            '--dev',
            '/dev',
            '--chdir',
            '/',
            ...LOGIN_TRUE,
          ],
        },
      }
    : none('bubblewrap is not installed');

  // crun: refuses a hybrid cgroup layout; then it runs in the legacy view (see legacyNote).
  let crunRun: Baseline = none('crun is not installed');
  let crunExec: Baseline = none('crun is not installed');
  let legacyNote: string | undefined;
  if (has('/usr/bin/crun')) {
    for (const [dir, args, id] of [
      ['crun-run', LOGIN_TRUE, 'run'],
      ['crun-exec', ['/bin/sleep', '1000000'], 'exec'],
    ] as const) {
      mkdirSync(join(work, dir));
      writeFileSync(join(work, dir, 'config.json'), ociConfig(rootfs, args, id));
    }
    const probe = sh('/usr/bin/crun', 'run', '--bundle', join(work, 'crun-run'), `${CRUN_ID}-probe`);
    const legacy = !probe.ok && /hybrid/.test(probe.text);
    if (legacy)
      legacyNote = `crun refuses this host's hybrid cgroup layout ("${probe.text.split('\n')[0]}"); its rows run in a private mount namespace with /sys/fs/cgroup/unified detached, which adds the cost of that namespace (the "legacy view" row shows it)`;
    const crun = (...args: string[]): string[] =>
      legacy ? legacyView(['/usr/bin/crun', ...args]) : ['/usr/bin/crun', ...args];
    const probe2 = legacy ? sh(...crun('run', '--bundle', join(work, 'crun-run'), `${CRUN_ID}-probe`)) : probe;
    if (!probe2.ok) {
      crunRun = crunExec = none(`crun run failed: ${probe2.text.split('\n')[0]}`);
    } else {
      crunRun = {
        cmd: {
          name: 'crun run',
          legacy,
          argv: ['/usr/bin/crun', 'run', '--bundle', join(work, 'crun-run'), `${CRUN_ID}-run`],
        },
      };
      const started = sh(...crun('run', '-d', '--bundle', join(work, 'crun-exec'), `${CRUN_ID}-exec`));
      crunExec = started.ok
        ? { cmd: { name: 'crun exec', legacy, argv: ['/usr/bin/crun', 'exec', `${CRUN_ID}-exec`, ...LOGIN_TRUE] } }
        : none(`crun run -d failed: ${started.text.split('\n')[0]}`);
      stops.push(() => {
        sh(...crun('delete', '-f', `${CRUN_ID}-exec`));
      });
    }
    stops.push(() => removeCgroupTree(CGROUP));
  }

  // lxc-attach: into an lxc container (same root, ids shifted by 100000) running sleep.
  let lxcAttach: Baseline = none('lxc is not installed');
  if (has('/usr/bin/lxc-attach')) {
    const before = cgroupRootEntries();
    const lxcPath = join(work, 'lxc');
    mkdirSync(join(lxcPath, 'bench'), { recursive: true });
    writeFileSync(join(lxcPath, 'bench', 'config'), LXC_CONFIG(rootfs));
    const started = sh(
      '/usr/bin/lxc-start',
      '-P',
      lxcPath,
      '-n',
      'bench',
      '-d',
      '-l',
      'ERROR',
      '-o',
      join(lxcPath, 'log'),
    );
    lxcAttach = started.ok
      ? {
          cmd: { name: 'lxc-attach', argv: ['/usr/bin/lxc-attach', '-P', lxcPath, '-n', 'bench', '--', ...LOGIN_TRUE] },
        }
      : none(`lxc-start failed: ${(started.text || readFileSync(join(lxcPath, 'log'), 'utf8')).split('\n')[0]}`);
    stops.push(() => {
      sh('/usr/bin/lxc-stop', '-P', lxcPath, '-n', 'bench', '-k');
      for (const d of cgroupRootEntries())
        if (!before.has(d) && /\/lxc[.][^/]*$/.test(d)) removeCgroupTree(d.slice(d.lastIndexOf('/') + 1));
    });
  }

  return {
    unshare,
    nsenter,
    bwrap,
    crunRun,
    crunExec,
    lxcAttach,
    legacyNote,
    idle: { argv: idle, uid },
    stop: () => {
      for (const s of stops) s();
    }, // in order: crun's container goes before its cgroup folder
  };
}
