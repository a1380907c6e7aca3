// Interactive logins (`ssh host` with a terminal) to the first byte of the
// prompt, container running and not, against the least Node program that runs
// something on a terminal (node-pty spawn of /bin/true).
import { join } from 'node:path';
import type { Bench } from '../context.js';
import { timingRows, TIMING_HEAD, type Table } from '../report.js';
import { timeRuns, type Command, type Runs } from '../timer.js';

export interface InteractiveResults {
  readonly table: Table;
  readonly runs: ReadonlyMap<string, Runs>;
}

/** A script loading what Node loads for an interactive login the launcher
 * started early (src/cli/attached.ts), without running it. */
const LOAD_MODULES = (libDir: string): string =>
  ['errors.js', 'helper-client/client.js', 'session/run.js', 'sys/libc.js', 'session/relay.js']
    .map((m) => `require(${JSON.stringify(`${libDir}/dist/src/${m}`)});`)
    .join(' ');

export function measureInteractive(bench: Bench): InteractiveResults {
  const { inst, users } = bench;
  const login = (uid: number): Pick<Command, 'file' | 'argv' | 'uid' | 'pty' | 'until' | 'send'> => ({
    file: inst.launcher,
    argv: ['-cellsh'],
    uid,
    pty: true,
    until: bench.prompt,
    send: 'exit\n',
  });
  const node = process.execPath;
  const cmds: Command[] = [
    { name: 'login-warm', ...login(users.warm.uid) },
    { name: 'login-cold', ...login(users.cold.uid), pre: [inst.helper, 'stop', String(users.cold.uid)] },
    { name: 'login-node', ...login(users.settings.uid) },
    {
      name: 'bash-login',
      file: '/bin/bash',
      argv: ['-bash'],
      uid: users.warm.uid,
      pty: true,
      until: bench.prompt,
      send: 'exit\n',
    },
    { name: 'nodepty', argv: [node, join(__dirname, '..', 'nodepty-true.js')] },
    { name: 'node0', argv: [node, '-e', '0'] },
    { name: 'node-modules', uid: users.warm.uid, argv: [node, '-e', LOAD_MODULES(inst.libDir)] },
    {
      name: 'script',
      uid: users.warm.uid,
      argv: ['/usr/bin/script', '-qc', 'true', '/dev/null'],
      env: { SHELL: '/bin/sh' },
    },
  ];
  bench.progress(`interactive logins: ${cmds.length} commands x ${bench.sizes.loginRuns} runs, interleaved`);
  const runs = timeRuns(bench.timer, cmds, { runs: bench.sizes.loginRuns, warmup: 1 });
  const nodepty = { key: 'nodepty', label: 'node-pty spawn' };
  const rows = timingRows(
    [
      { label: 'cellsh login, container running: to the prompt', key: 'login-warm', vs: nodepty },
      { label: 'cellsh login, first login (container created): to the prompt', key: 'login-cold', vs: nodepty },
      {
        label: 'cellsh login, user with own settings (the Node login shell starts the helper): to the prompt',
        key: 'login-node',
        vs: nodepty,
      },
      { label: 'host: `bash -l` on a terminal, no container: to the prompt', key: 'bash-login', vs: nodepty },
      { label: 'node-pty spawn of /bin/true (Node + node-pty, to exit)', key: 'nodepty' },
      { label: '`node -e 0`', key: 'node0', vs: nodepty },
      {
        label: 'Node loading the modules an interactive login loads (no helper, no terminal)',
        key: 'node-modules',
        vs: nodepty,
      },
      { label: '`script -qc true` (a C terminal relay, to exit)', key: 'script', vs: nodepty },
    ],
    runs,
    'first_ms',
  );
  return {
    table: {
      title: 'Interactive login (`ssh -t host`), to the first prompt byte',
      head: TIMING_HEAD,
      rows,
      notes: [
        'Logins run on a new terminal as the user, argv[0] "-cellsh" as sshd starts a login shell; timed from fork until the prompt has been read from the terminal (the user\'s bash reads /etc/profile, ~/.profile and ~/.bashrc first), then `exit` is typed (untimed).',
        "Node baselines run with a login's environment (no NODE_EXTRA_CA_CERTS).",
        'The launcher starts the helper before Node for a terminal session of a user with no settings of their own (the first two rows); Node then only relays. Users with settings of their own take the Node login shell, which reads them and then starts the helper.',
      ],
    },
    runs,
  };
}
