// What an ssh user pays: Debian's sshd on 127.0.0.1 with the drop-in
// install.sh writes (ForceCommand for the cellsh group), a cellsh user against
// a plain bash account on the same sshd, every row of a table interleaved.
// The clients are the real ssh, sftp, rsync, git and ansible-playbook, run as
// root; a new session rides an open connection (ControlMaster) unless the row
// says "whole connection".
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { TestSshd } from '../../test/helpers/sshd.js';
import { createUser, removeUser, type TestUser } from '../../test/helpers/users.js';
import type { Bench } from '../context.js';
import { comm, descendants, inOtherPidNs, pss } from '../setup/memory.js';
import { writePayload } from '../setup/users.js';
import {
  fmtBytes,
  fmtMs,
  fmtRatio,
  sampleStats,
  timingRows,
  TIMING_HEAD,
  whyNot,
  type Row,
  type Table,
} from '../report.js';
import { stats } from '../stats.js';
import { burst, hold, timeEchoes, timeRuns, type Command, type Echoes, type Runs } from '../timer.js';

export interface SshResults {
  readonly tables: Table[];
  readonly runs: ReadonlyMap<string, Runs>;
  readonly echoes: ReadonlyMap<string, Echoes>;
  /** Bytes a complete throughput run delivers. */
  readonly thruBytes: number;
  /** 100 logins at once: per-login median ms and errors, each kind of account. */
  readonly crowd: {
    readonly cellsh: CrowdRound;
    readonly plain: CrowdRound;
    readonly users: number;
    readonly logins: number;
  };
}

export interface CrowdRound {
  readonly medianMs: number | undefined;
  readonly wallMs: number;
  readonly errors: number;
  readonly firstError: string;
}

const WHO = ['cellsh', 'plain'] as const;
type Who = (typeof WHO)[number];
const ECHO_PROGRAM = 'stty raw -echo; echo READY; exec cat';
const RSYNC_FILES = 5000;

/** Cleanups run in reverse, as node:test runs t.after hooks. */
class Cleanups {
  private readonly list: Array<() => void> = [];
  add(fn: () => void): void {
    this.list.push(fn);
  }
  /** What TestSshd.start and createUser want. */
  context(): TestContext {
    return { after: (fn: () => void) => this.add(fn) } as unknown as TestContext;
  }
  run(): void {
    for (const fn of this.list.reverse()) {
      try {
        fn();
      } catch {
        // the next one still runs
      }
    }
  }
}

/** A plain bash account beside the bench's cellsh users, with the same prompt. */
function plainUser(bench: Bench, suffix: string, c: Cleanups): TestUser {
  const u = createUser(undefined, bench.inst, suffix, { enrolled: false });
  c.add(() => removeUser(bench.inst, u.name));
  appendFileSync(`${u.home}/.bashrc`, `\n# cellsh benchmark\nPS1='${bench.prompt.replace(/\$/g, '\\$')}'\n`);
  return u;
}

/** An ssh connection left open to multiplex sessions on (ssh -M), stopped by pid. */
async function master(sshd: TestSshd, user: TestUser, socket: string, c: Cleanups): Promise<void> {
  const proc: ChildProcess = spawn(
    'ssh',
    [
      ...sshd.clientOptions(),
      '-M',
      '-N',
      '-S',
      socket,
      '-o',
      'ControlPersist=no',
      '-p',
      String(sshd.port),
      sshd.target(user),
    ],
    { stdio: 'ignore' },
  );
  c.add(() => proc.kill('SIGTERM'));
  for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(socket))
    throw new Error(
      `the ssh master connection for ${user.name} did not come up; sshd said:\n${sshd.logText().split('\n').slice(-15).join('\n')}`,
    );
}

/** A folder of n small files (root's, readable by all) for rsync. */
function smallFiles(dir: string, n: number): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const sub = join(dir, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.txt`), `file ${i}\n`.repeat(1 + (i % 20)));
  }
}

/** A bare git repository in the user's home with a few hundred files over a few commits. */
function gitRepo(user: TestUser, work: string): void {
  const src = join(work, `git-src-${user.name}`);
  const git = (...args: string[]): void => {
    const r = spawnSync('git', ['-C', src, ...args], {
      encoding: 'utf8',
      env: {
        PATH: '/usr/bin:/bin',
        HOME: '/root',
        GIT_AUTHOR_NAME: 'b',
        GIT_AUTHOR_EMAIL: 'b@b',
        GIT_COMMITTER_NAME: 'b',
        GIT_COMMITTER_EMAIL: 'b@b',
      },
    });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  };
  mkdirSync(src, { recursive: true });
  git('init', '-q');
  for (let c = 0; c < 5; c++) {
    for (let i = 0; i < 60; i++) writeFileSync(join(src, `file${c}-${i}.txt`), `commit ${c} file ${i}\n`.repeat(50));
    git('add', '-A');
    git('commit', '-q', '-m', `commit ${c}`);
  }
  const bare = join(user.home, 'repo.git');
  spawnSync('git', ['clone', '-q', '--bare', src, bare]);
  spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, bare]);
}

/** An Ansible playbook (ping, copy, shell) and an inventory of one host per user, pipelining off. */
function ansibleFiles(
  sshd: TestSshd,
  users: Record<Who, TestUser>,
  work: string,
): { playbook: string; inventory: string } | string {
  if (spawnSync('ansible-playbook', ['--version']).status !== 0)
    return 'ansible-playbook is not installed (apt-get install ansible)';
  const playbook = join(work, 'play.yml');
  writeFileSync(
    playbook,
    [
      '- hosts: all',
      '  gather_facts: false',
      '  tasks:',
      '    - ansible.builtin.ping:',
      '    - ansible.builtin.copy: { content: "hello\\n", dest: "~/ansible-copied.txt" }',
      '    - ansible.builtin.shell: "cat ~/ansible-copied.txt"',
      '',
    ].join('\n'),
  );
  const inventory = join(work, 'inventory.ini');
  const common = sshd.clientOptions().join(' ');
  writeFileSync(
    inventory,
    WHO.map(
      (w) =>
        `${w} ansible_host=127.0.0.1 ansible_port=${sshd.port} ansible_user=${users[w].name} ansible_ssh_common_args='${common}' ansible_python_interpreter=/usr/bin/python3`,
    ).join('\n') + '\n',
  );
  return { playbook, inventory };
}

/** The PSS of an ssh session's server side, held open on a terminal: sshd's own
 * processes for it, and what runs below them on the host (not in a container). */
function sessionMemory(user: TestUser): { sshd: number; below: number; names: string } {
  const sessions: number[] = [];
  for (const p of readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.startsWith(`sshd: ${user.name}`)) sessions.push(p);
    } catch {
      // gone
    }
  }
  const below = [...new Set(sessions.flatMap((p) => descendants(p)))].filter(
    (p) => !sessions.includes(p) && !inOtherPidNs(p),
  );
  return {
    sshd: sessions.reduce((n, p) => n + pss(p), 0),
    below: below.reduce((n, p) => n + pss(p), 0),
    names: [...new Set(below.map(comm))].join(', ') || 'none',
  };
}

export async function measureSsh(bench: Bench): Promise<SshResults> {
  const { inst, sizes, work } = bench;
  const c = new Cleanups();
  try {
    bench.progress('ssh: starting sshd as install.sh leaves it, a plain account beside the cellsh user');
    const sshd = await TestSshd.start(c.context(), inst, {
      extra: ['MaxStartups 300', 'MaxSessions 200'],
      logFile: join(work, 'sshd.log'),
      pam: true,
    });
    // The same server without pam_cellsh in its PAM stack: what the module costs a connection.
    const bare = await TestSshd.start(c.context(), inst, {
      extra: ['MaxStartups 300', 'MaxSessions 200'],
      logFile: join(work, 'sshd-bare.log'),
    });
    const users: Record<Who, TestUser> = { cellsh: bench.users.warm, plain: plainUser(bench, 'bplain', c) };
    for (const w of WHO) sshd.authorize(users[w]);
    // The second server's key beside the first's (authorize writes the file afresh).
    appendFileSync(join(users.cellsh.home, '.ssh/authorized_keys'), readFileSync(`${bare.key}.pub`));
    const agentDir = join(work, 'agent');
    mkdirSync(agentDir);
    const agent = spawnSync('ssh-agent', ['-a', join(agentDir, 'sock')], { encoding: 'utf8' });
    const agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1]);
    if (agentPid) c.add(() => process.kill(agentPid));
    const agentEnv = { SSH_AUTH_SOCK: join(agentDir, 'sock') };
    const ctl = (w: Who): string => join(work, `ctl-${w}`);
    for (const w of WHO) await master(sshd, users[w], ctl(w), c);
    const ssh = (w: Who, ...opts: string[]): string[] => [
      '/usr/bin/ssh',
      ...sshd.clientOptions(),
      '-S',
      ctl(w),
      ...opts,
      '-p',
      String(sshd.port),
      sshd.target(users[w]),
    ];
    const payload = Object.fromEntries(WHO.map((w) => [w, writePayload(users[w], sizes.sshThruMiB)])) as Record<
      Who,
      ReturnType<typeof writePayload>
    >;
    const batch = join(work, 'sftp-batch');
    writeFileSync(batch, 'ls\npwd\n');
    const files = join(work, 'rsync-src');
    smallFiles(files, RSYNC_FILES);
    for (const w of WHO) gitRepo(users[w], work);
    const rsyncE = (w: Who): string => ssh(w).slice(0, -1).join(' ');
    const home = (w: Who): string => users[w].home;
    // The no-op re-run's destination, filled once beforehand.
    for (const w of WHO)
      spawnSync('rsync', ['-a', '-e', rsyncE(w), `${files}/`, `${sshd.target(users[w])}:rsync-same/`]);

    const tunnelled = await tunnelServers(ssh, bench.sizes.sshThruMiB);
    const cmds: Command[] = [{ name: 'node0', uid: users.cellsh.uid, argv: [process.execPath, '-e', '0'] }];
    // Whole connections (each account's, and the cellsh user's without pam_cellsh):
    // timed apart, in rounds of their own with more runs, as the module's few ms
    // drown in a connection's spread.
    const connCmds: Command[] = [
      ...WHO.map((w) => ({
        name: `conn-${w}`,
        argv: ['/usr/bin/ssh', ...sshd.clientOptions(), '-p', String(sshd.port), sshd.target(users[w]), 'true'],
      })),
      {
        name: 'conn-nopam-cellsh',
        argv: ['/usr/bin/ssh', ...bare.clientOptions(), '-p', String(bare.port), bare.target(users.cellsh), 'true'],
      },
    ];
    for (const w of WHO) {
      cmds.push(
        { name: `true-${w}`, argv: [...ssh(w), 'true'] },
        { name: `tt-${w}`, pty: true, argv: [...ssh(w, '-tt'), 'true'] },
        { name: `agent-${w}`, argv: [...ssh(w, '-A'), 'true'], env: agentEnv },
        { name: `login-${w}`, pty: true, until: bench.prompt, send: 'exit\n', argv: ssh(w) },
        { name: `login-agent-${w}`, pty: true, until: bench.prompt, send: 'exit\n', argv: ssh(w, '-A'), env: agentEnv },
        {
          name: `sftp-${w}`,
          argv: [
            '/usr/bin/sftp',
            ...sshd.clientOptions(),
            '-o',
            `ControlPath=${ctl(w)}`,
            '-b',
            batch,
            '-P',
            String(sshd.port),
            sshd.target(users[w]),
          ],
        },
        {
          name: `rsync-${w}`,
          argv: ['/usr/bin/rsync', '-a', '-e', rsyncE(w), `${files}/`, `${sshd.target(users[w])}:rsync-new/`],
          pre: ['/bin/rm', '-rf', join(home(w), 'rsync-new')],
        },
        {
          name: `rsync-same-${w}`,
          argv: ['/usr/bin/rsync', '-a', '-e', rsyncE(w), `${files}/`, `${sshd.target(users[w])}:rsync-same/`],
        },
        {
          name: `git-${w}`,
          argv: [
            '/usr/bin/git',
            'clone',
            '-q',
            `ssh://${sshd.target(users[w])}:${sshd.port}/~/repo.git`,
            join(work, `clone-${w}`),
          ],
          env: { GIT_SSH_COMMAND: ssh(w).slice(0, -3).join(' ') },
          pre: ['/bin/rm', '-rf', join(work, `clone-${w}`)],
        },
        { name: `thru-${w}`, pty: true, argv: [...ssh(w, '-tt'), `cat ${payload[w].path}`] },
        { name: `fwd-${w}`, argv: ssh(w, '-W', `127.0.0.1:${tunnelled.port[w]}`) },
      );
    }
    const ansible = ansibleFiles(sshd, users, work);
    if (typeof ansible !== 'string') {
      for (const w of WHO) {
        cmds.push({
          name: `ansible-${w}`,
          argv: ['/usr/bin/ansible-playbook', '-i', ansible.inventory, '-l', w, ansible.playbook],
          env: { ANSIBLE_PIPELINING: 'False', ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_NOCOLOR: '1', HOME: work },
        });
      }
    }
    bench.progress(`ssh: ${cmds.length} commands x ${sizes.sshRuns} runs through sshd, interleaved`);
    const runs = timeRuns(bench.timer, cmds, { runs: sizes.sshRuns, warmup: 1, timeoutS: 300 });
    bench.progress(`ssh: whole connections, ${sizes.connRuns} runs each, interleaved`);
    for (const [name, r] of timeRuns(bench.timer, connCmds, { runs: sizes.connRuns, warmup: 2 })) runs.set(name, r);

    bench.progress(`ssh: keystroke echo, ${sizes.pings} keystrokes`);
    const echoes = timeEchoes(
      bench.timer,
      WHO.map((w) => ({ name: `echo-${w}`, pty: true, until: 'READY', argv: [...ssh(w, '-tt'), ECHO_PROGRAM] })),
      { pings: sizes.pings, gapUs: 2000 },
    );

    bench.progress('ssh: host memory of a held terminal session of each account');
    const memory = await hold(
      bench.timer,
      join(work, 'ssh-hold.spec'),
      WHO.map((w) => ({ name: `hold-${w}`, pty: true, until: bench.prompt, argv: ssh(w) })),
      async () =>
        Object.fromEntries(WHO.map((w) => [w, sessionMemory(users[w])])) as Record<
          Who,
          ReturnType<typeof sessionMemory>
        >,
    );

    const crowd = crowdRounds(bench, sshd, c);
    return {
      runs,
      echoes,
      thruBytes: payload.cellsh.terminalBytes,
      crowd,
      tables: [
        sessionsTable(bench, runs, typeof ansible === 'string' ? ansible : undefined),
        streamTable(bench, runs, echoes, payload.cellsh.terminalBytes),
        forwardingTable(bench, runs, tunnelled),
        memoryTable(memory.value),
        crowdTable(crowd),
      ],
    };
  } finally {
    c.run();
  }
}

/** A server on each account's loopback that sends n MiB to whoever connects (the cellsh
 * user's in their container, started through ssh as a user would); checked once through
 * `ssh -W` for every byte. */
async function tunnelServers(
  ssh: (w: Who, ...opts: string[]) => string[],
  mib: number,
): Promise<{ port: Record<Who, number>; bytes: number; complete: Record<Who, boolean> }> {
  const port = { cellsh: 17001, plain: 17002 } as Record<Who, number>;
  const complete = { cellsh: false, plain: false } as Record<Who, boolean>;
  for (const w of WHO) {
    const server =
      `import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ` +
      `s.bind(('127.0.0.1', ${port[w]})); s.listen(16); b = bytes(1 << 20)\n` +
      `while True:\n c, _ = s.accept()\n for i in range(${mib}): c.sendall(b)\n c.close()`;
    spawnSync(ssh(w)[0]!, [...ssh(w).slice(1), `(setsid python3 -c "${server}" </dev/null >/dev/null 2>&1 &)`]);
    for (let i = 0; i < 100 && !complete[w]; i++) {
      const got = spawnSync(ssh(w)[0]!, ssh(w, '-W', `127.0.0.1:${port[w]}`).slice(1), {
        input: '',
        maxBuffer: (mib + 1) << 20,
      });
      complete[w] = got.stdout?.length === mib << 20;
      if (!complete[w]) await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { port, bytes: mib << 20, complete };
}

/** 100 logins at once (whole connections, `ssh host true`) over 10 accounts of each kind, the kinds taking turns. */
function crowdRounds(bench: Bench, sshd: TestSshd, c: Cleanups): SshResults['crowd'] {
  const n = Math.min(10, bench.users.pool.length);
  const cellshUsers = bench.users.pool.slice(0, n);
  const plainUsers = Array.from({ length: n }, (_, i) => plainUser(bench, `bp${String(i).padStart(2, '0')}`, c));
  for (const u of [...cellshUsers, ...plainUsers]) sshd.authorize(u);
  const logins = bench.sizes.crowdLogins;
  const cmds = (us: readonly TestUser[]): Command[] =>
    Array.from({ length: logins }, (_, i) => ({
      name: `crowd-${i}`,
      argv: ['/usr/bin/ssh', ...sshd.clientOptions(), '-p', String(sshd.port), sshd.target(us[i % us.length]!), 'true'],
    }));
  bench.progress(`ssh: ${logins} logins at once over ${n} accounts, cellsh and plain taking turns`);
  const rounds: Record<Who, Array<{ runs: Map<string, Runs>; wallMs: number }>> = { cellsh: [], plain: [] };
  for (let i = 0; i < 2; i++) {
    rounds.cellsh.push(burst(bench.timer, cmds(cellshUsers), 300));
    rounds.plain.push(burst(bench.timer, cmds(plainUsers), 300));
  }
  const summary = (rs: Array<{ runs: Map<string, Runs>; wallMs: number }>): CrowdRound => {
    const all = rs.flatMap((r) => [...r.runs.values()]);
    return {
      medianMs: stats(all.flatMap((r) => r.ms))?.median,
      wallMs: stats(rs.map((r) => r.wallMs))!.median,
      errors: all.reduce((e, r) => e + r.errors, 0),
      firstError: all.find((r) => r.error)?.error ?? '',
    };
  };
  return { cellsh: summary(rounds.cellsh), plain: summary(rounds.plain), users: n, logins };
}

function pairRows(label: (w: Who) => string, key: string): Row[] {
  return [
    { label: label('cellsh'), key: `${key}-cellsh`, vs: { key: `${key}-plain`, label: 'plain' } },
    { label: label('plain'), key: `${key}-plain` },
  ];
}

function sessionsTable(bench: Bench, runs: ReadonlyMap<string, Runs>, noAnsible: string | undefined): Table {
  const who = (w: Who): string => (w === 'cellsh' ? 'cellsh user' : 'plain account');
  const rows: Row[] = [
    ...pairRows((w) => `\`ssh host true\`, new session on an open connection: ${who(w)}`, 'true'),
    ...pairRows((w) => `\`ssh -A host true\` (agent forwarded): ${who(w)}`, 'agent'),
    ...pairRows((w) => `\`ssh -tt host true\` (a terminal): ${who(w)}`, 'tt'),
    ...pairRows((w) => `\`ssh host\`, interactive login to the prompt: ${who(w)}`, 'login'),
    ...pairRows((w) => `\`ssh -A host\`, interactive login to the prompt: ${who(w)}`, 'login-agent'),
    ...pairRows((w) => `\`ssh host true\`, whole connection (handshake included): ${who(w)}`, 'conn'),
    ...pairRows((w) => `sftp session (\`ls\`, \`pwd\`): ${who(w)}`, 'sftp'),
    ...pairRows((w) => `rsync of ${RSYNC_FILES.toLocaleString('en')} small files: ${who(w)}`, 'rsync'),
    ...pairRows((w) => `rsync re-run, nothing to copy: ${who(w)}`, 'rsync-same'),
    ...pairRows((w) => `git clone over ssh (300 files, 5 commits): ${who(w)}`, 'git'),
    ...(noAnsible
      ? [
          {
            label: 'Ansible playbook (ping, copy, shell), pipelining off',
            key: 'ansible-cellsh',
            unavailable: noAnsible,
          },
        ]
      : pairRows((w) => `Ansible playbook (ping, copy, shell), pipelining off: ${who(w)}`, 'ansible')),
    { label: "`node -e 0` (as the user, a login's environment)", key: 'node0' },
  ];
  const t = timingRows(rows, runs, 'ms');
  // Interactive rows are timed to the prompt, not to exit.
  const firstRows = timingRows(rows, runs, 'first_ms');
  rows.forEach((r, i) => {
    if (r.key.startsWith('login')) t[i] = firstRows[i]!;
  });
  return {
    title: 'ssh through sshd as install.sh sets it up: a cellsh user against a plain bash account',
    head: [...TIMING_HEAD],
    rows: t,
    notes: [
      `Debian's sshd on 127.0.0.1 with the drop-ins and PAM lines install.sh writes (ForceCommand and pam_cellsh for the cellsh group); the clients run as root, every row ${bench.sizes.sshRuns} times, all interleaved (the whole-connection rows ${bench.sizes.connRuns} times, in rounds of their own).`,
      "A session rides an open connection (ssh -M, then -S) except in the whole-connection row; the cellsh user's container is running.",
      'Interactive logins are timed to the first byte of the prompt, then `exit` is typed; the others from fork to exit.',
    ],
  };
}

function streamTable(
  bench: Bench,
  runs: ReadonlyMap<string, Runs>,
  echoes: ReadonlyMap<string, Echoes>,
  expected: number,
): Table {
  const rate = (w: Who): number | undefined => {
    const r = runs.get(`thru-${w}`);
    return r && r.errors === 0
      ? stats(r.bytes.map((b, i) => b / Math.max(0.001, r.last_ms[i]! - r.first_ms[i]!) / 1000))?.median
      : undefined;
  };
  const echo = (w: Who): ReturnType<typeof stats> => {
    const e = echoes.get(`echo-${w}`);
    return e && e.errors === 0 ? stats(e.us) : undefined;
  };
  const complete = (w: Who): string => {
    const r = runs.get(`thru-${w}`);
    return r ? `${r.bytes.filter((b) => b === expected).length}/${r.bytes.length}` : '–';
  };
  const rows = WHO.map((w) => [
    w === 'cellsh' ? 'cellsh user' : 'plain account',
    rate(w)?.toFixed(1) ?? whyNot(runs.get(`thru-${w}`), 'not run'),
    complete(w),
    echo(w) ? `${echo(w)!.median.toFixed(0)} / ${echo(w)!.p99.toFixed(0)}` : whyNot(echoes.get(`echo-${w}`), 'not run'),
  ]);
  const [rc, rp, ec, ep] = [rate('cellsh'), rate('plain'), echo('cellsh')?.median, echo('plain')?.median];
  return {
    title: `A terminal through sshd: \`ssh -tt host cat FILE\` of ${bench.sizes.sshThruMiB} MiB (${(bench.sizes.sshThruMiB * 1.048576).toFixed(0)} MB), and keystroke echo`,
    head: ['account', 'MB/s, first to last byte (median)', 'runs with every byte', 'echo µs, median / p99'],
    rows,
    notes: [
      `Throughput cellsh ÷ plain: ${rc && rp ? fmtRatio(rc, rp) : '–'}; echo median cellsh ÷ plain: ${ec && ep ? fmtRatio(ec, ep) : '–'}. ${expected} bytes expected per run.`,
      'Echo: `stty raw -echo; exec cat` on the remote terminal, one byte at a time to both accounts in shuffled turns, 2 ms apart.',
    ],
  };
}

function forwardingTable(
  bench: Bench,
  runs: ReadonlyMap<string, Runs>,
  tunnelled: Awaited<ReturnType<typeof tunnelServers>>,
): Table {
  const rate = (w: Who): number | undefined => {
    const s = sampleStats(runs.get(`fwd-${w}`));
    return s && tunnelled.complete[w] ? tunnelled.bytes / s.median / 1000 : undefined;
  };
  const conn = sampleStats(runs.get('conn-cellsh'));
  const bare = sampleStats(runs.get('conn-nopam-cellsh'));
  const [rc, rp] = [rate('cellsh'), rate('plain')];
  return {
    title: `Forwarding: \`ssh -W\` of ${bench.sizes.sshThruMiB} MiB from a server on the account's loopback, and what pam_cellsh adds to a connection`,
    head: ['what', 'median', 'against', 'target'],
    rows: [
      [
        '`ssh -W 127.0.0.1:PORT`, cellsh user (the server in their container)',
        rc ? `${rc.toFixed(1)} MB/s` : whyNot(runs.get('fwd-cellsh'), 'not every byte arrived'),
        rc && rp ? `${fmtRatio(rc, rp)} the plain account` : '',
        'at least 0.9×',
      ],
      [
        "`ssh -W 127.0.0.1:PORT`, plain account (the server on the host's loopback)",
        rp ? `${rp.toFixed(1)} MB/s` : whyNot(runs.get('fwd-plain'), 'not every byte arrived'),
        '',
        '',
      ],
      [
        '`ssh host true`, whole connection, cellsh user: pam_cellsh in the stack',
        conn ? `${fmtMs(conn.median)} ms` : whyNot(runs.get('conn-cellsh'), 'not run'),
        conn && bare ? `+${fmtMs(conn.median - bare.median)} ms over the same sshd without it` : '',
        'at most +5 ms',
      ],
      [
        '`ssh host true`, whole connection, cellsh user: the same sshd without pam_cellsh',
        bare ? `${fmtMs(bare.median)} ms` : whyNot(runs.get('conn-nopam-cellsh'), 'not run'),
        '',
        '',
      ],
    ],
    notes: [
      "Both forwards ride the account's open connection (ssh -M, then -S); the time is fork to exit of `ssh -W`, so it includes opening the channel. Before timing, one transfer of each was checked for every byte.",
      "With pam_cellsh, sshd's session of the cellsh user runs the helper once per connection and joins the container's network namespace; sessions on an open connection don't run it again.",
      `The whole-connection rows run ${bench.sizes.connRuns} times each, interleaved, apart from the other rows; the table \`pam_open_session\` below times the module alone.`,
    ],
  };
}

function memoryTable(m: Record<Who, { sshd: number; below: number; names: string }>): Table {
  return {
    title: 'Host memory of one held `ssh host` terminal session (PSS)',
    head: ['account', "sshd's own processes for the session", 'below sshd on the host', 'which'],
    rows: WHO.map((w) => [
      w === 'cellsh' ? 'cellsh user' : 'plain account',
      fmtBytes(m[w].sshd),
      fmtBytes(m[w].below),
      m[w].names,
    ]),
    notes: [
      "\"Below sshd\" leaves out the container's processes (the user's shell inside is counted in the container's memory cgroup, not here).",
    ],
  };
}

function crowdTable(cr: SshResults['crowd']): Table {
  const row = (w: Who): string[] => {
    const r = cr[w];
    return [
      w === 'cellsh' ? `${cr.users} cellsh users` : `${cr.users} plain accounts`,
      fmtMs(r.wallMs),
      r.medianMs === undefined ? '–' : fmtMs(r.medianMs),
      r.errors ? `${r.errors}: ${r.firstError.replace(/\s+/g, ' ').slice(0, 100)}` : '0',
    ];
  };
  return {
    title: `${cr.logins} ssh logins at once (\`ssh host true\`, whole connections), two rounds each`,
    head: ['accounts', 'wall ms (median of rounds)', 'median ms per login', 'errors'],
    rows: [row('cellsh'), row('plain')],
    notes: [
      `Per-login median cellsh ÷ plain: ${cr.cellsh.medianMs && cr.plain.medianMs ? fmtRatio(cr.cellsh.medianMs, cr.plain.medianMs) : '–'}. sshd runs with MaxStartups 300.`,
    ],
  };
}
