// Non-interactive commands (`ssh host true`: no terminal, the launcher's fast
// path) and the helper alone, against nsenter/crun exec/lxc-attach for a running
// container and unshare/bwrap/crun run for a new one, all in one interleaved run.
import type { Bench } from '../context.js';
import type { Baseline } from '../setup/baselines.js';
import { timingRows, TIMING_HEAD, type Row, type Table } from '../report.js';
import { timeRuns, type Command, type Runs } from '../timer.js';

export interface CommandResults {
  readonly tables: Table[];
  readonly runs: ReadonlyMap<string, Runs>;
}

/** A row for a baseline: measured when it has a command, else the reason. */
function baselineRow(b: Baseline, key: string, label: string, vs?: Row['vs']): Row {
  return 'cmd' in b ? { label, key, ...(vs ? { vs } : {}) } : { label, key, unavailable: b.reason };
}

export function measureCommands(bench: Bench): CommandResults {
  const { inst, users, baselines: b } = bench;
  const stopCold = [inst.helper, 'stop', String(users.cold.uid)];
  const cellsh = (uid: number, cmd: string): Pick<Command, 'file' | 'argv' | 'uid'> => ({
    file: inst.launcher,
    argv: ['cellsh', '-c', cmd],
    uid,
  });
  const cmds: Command[] = [
    { name: 'host-true', uid: users.warm.uid, argv: ['/bin/true'] },
    { name: 'host-bash', uid: users.warm.uid, argv: ['/bin/bash', '-c', 'true'] },
    { name: 'cellsh-warm', ...cellsh(users.warm.uid, 'true') },
    { name: 'cellsh-cold', ...cellsh(users.cold.uid, 'true'), pre: stopCold },
    { name: 'cellsh-node', ...cellsh(users.settings.uid, 'true') },
    { name: 'helper-join', uid: users.warm.uid, argv: [inst.helper, 'run', 'true'] },
    { name: 'helper-create', uid: users.cold.uid, argv: [inst.helper, 'run', 'true'], pre: stopCold },
  ];
  for (const [key, base] of [
    ['nsenter', b.nsenter],
    ['crun-exec', b.crunExec],
    ['lxc-attach', b.lxcAttach],
    ['unshare', b.unshare],
    ['bwrap', b.bwrap],
    ['crun-run', b.crunRun],
  ] as const) {
    if ('cmd' in base) cmds.push({ ...base.cmd, name: key });
  }
  if (b.legacyNote) cmds.push({ name: 'legacy-true', legacy: true, argv: ['/bin/true'] });
  bench.progress(`non-interactive commands: ${cmds.length} commands x ${bench.sizes.runs} runs, interleaved`);
  const runs = timeRuns(bench.timer, cmds, { runs: bench.sizes.runs, warmup: bench.sizes.warmup });

  const nsenter = { key: 'nsenter', label: 'nsenter' };
  const unshare = { key: 'unshare', label: 'unshare' };
  const commandRows: Row[] = [
    { label: 'launcher alone: `cellsh -c true`, container running', key: 'cellsh-warm', vs: nsenter },
    { label: 'launcher alone: `cellsh -c true`, first login (container created)', key: 'cellsh-cold', vs: unshare },
    {
      label: 'launcher alone: `cellsh -c true`, container running, user with own settings (Node path)',
      key: 'cellsh-node',
      vs: nsenter,
    },
    baselineRow(b.nsenter, 'nsenter', 'nsenter into a running container (as the user)', nsenter),
    baselineRow(b.crunExec, 'crun-exec', 'crun exec (as root)', nsenter),
    baselineRow(b.lxcAttach, 'lxc-attach', 'lxc-attach (as root)', nsenter),
    baselineRow(b.unshare, 'unshare', 'unshare + chroot, new container (as the user)', unshare),
    baselineRow(b.bwrap, 'bwrap', 'bwrap, new container (as the user)', unshare),
    baselineRow(b.crunRun, 'crun-run', 'crun run, new container (as root)', unshare),
    { label: 'host: `bash -c true` (what sshd runs without cellsh)', key: 'host-bash' },
    { label: 'host: `/bin/true`', key: 'host-true' },
  ];
  if (b.legacyNote)
    commandRows.push({ label: 'host: `/bin/true` in the legacy cgroup view (as crun runs)', key: 'legacy-true' });
  const notes = [
    'Every row as its own process started by the stopwatch (fork, exec, wait) with the environment a login has; rows interleaved in a new order each round.',
    "Every container row runs the same program, `bash -c true`: cellsh the user's shell inside the container (as sshd would on the host), the baselines the host's bash copied with its libraries into a small busybox root.",
    'First-login rows stop the container (untimed) before each run; crun exec and lxc-attach enter containers with the same namespaces, ids shifted by 100000 and memory/pids/cpu limits; unshare and nsenter have no cgroup.',
  ];
  if (b.legacyNote) notes.push(b.legacyNote);
  const tables: Table[] = [
    {
      title: 'Non-interactive command (`ssh host true`)',
      head: TIMING_HEAD,
      rows: timingRows(commandRows, runs),
      notes,
    },
    {
      title: 'The helper alone (`cellsh-helper run true` as the user)',
      head: TIMING_HEAD,
      rows: timingRows(
        [
          { label: 'helper, join (container running)', key: 'helper-join', vs: nsenter },
          { label: 'helper, create (no container)', key: 'helper-create', vs: unshare },
          baselineRow(b.nsenter, 'nsenter', 'nsenter into a running container'),
          baselineRow(b.unshare, 'unshare', 'unshare + chroot, new container'),
        ],
        runs,
      ),
      notes: [
        'Same interleaved run as the table above. The helper checks the caller, policy and state, joins or builds the container (mounts, cgroup limits, ids) and runs `bash -c true` in it; the baselines run the same.',
      ],
    },
  ];
  return { tables, runs };
}
