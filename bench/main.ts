// npm run bench [-- --quick] [-- --json FILE]: measures every login path of a
// private installation against what users would pick instead (started by
// bench/run.sh, which installs, builds and cleans up around it).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { mustApply, testInstall } from '../test/helpers/install.js';
import { FULL, QUICK, type Bench } from './context.js';
import { measureCommands } from './questions/commands.js';
import { measureEnrolled } from './questions/enrolled.js';
import { measureInteractive } from './questions/interactive.js';
import { measureMemory } from './questions/memory.js';
import { measureNat } from './questions/nat.js';
import { measureImages } from './questions/images.js';
import { measurePam } from './questions/pam.js';
import { measureScale } from './questions/scale.js';
import { measureSsh } from './questions/ssh.js';
import { measureTerminal } from './questions/terminal.js';
import { renderTable, type Table } from './report.js';
import { setUpBaselines, type Baselines } from './setup/baselines.js';
import { createUsers, removeUsers, type BenchUser } from './setup/users.js';
import { removeBulkUsers } from '../test/helpers/bulk-users.js';
import { targetsTable, verdicts } from './targets.js';

const USAGE = `usage: npm run bench [-- --quick] [-- --json FILE] [-- --only images]
  --quick        a short run (few samples, small payload, 8 users): a smoke check
  --json FILE    also write every table and raw sample to FILE
  --only images  only the images question (its own table, no verdicts)`;

function parseArgs(argv: readonly string[]): { quick: boolean; json: string | undefined; only: string | undefined } {
  let quick = false;
  let json: string | undefined;
  let only: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--quick') quick = true;
    else if (argv[i] === '--json' && argv[i + 1]) json = argv[++i];
    else if (argv[i] === '--only' && argv[i + 1] === 'images') only = argv[++i];
    else {
      process.stderr.write(`${argv[i] === '--help' ? '' : `bench: unknown argument "${argv[i]}"\n`}${USAGE}\n`);
      process.exit(argv[i] === '--help' ? 0 : 64);
    }
  }
  return { quick, json, only };
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

/** The date and machine, as the README quotes them. */
function machine(): string {
  const cg = sh('/usr/bin/stat', ['-fc', '%T', '/sys/fs/cgroup']) === 'cgroup2fs' ? 'cgroup v2' : 'cgroup v1 (hybrid)';
  const debian = (() => {
    try {
      return readFileSync('/etc/debian_version', 'utf8').trim();
    } catch {
      return '?';
    }
  })();
  return [
    `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${sh('git', ['-C', join(__dirname, '..', '..'), 'rev-parse', '--short', 'HEAD'])}.`,
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, kernel ${sh('uname', ['-r'])}, Debian ${debian}, ${cg}, Node ${process.version}.`,
  ].join('\n');
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const inst = testInstall();
  const timer = process.env['BENCH_TIMER'];
  if (!inst || !timer) {
    process.stderr.write('bench: run me through `npm run bench` (as root): it installs a private copy to measure\n');
    return 77;
  }
  const sizes = args.quick ? QUICK : FULL;
  const progress = (msg: string): void => {
    process.stderr.write(`bench: ${msg}\n`);
  };
  const work = mkdtempSync('/tmp/cellsh-bench-');
  chmodSync(work, 0o755);
  const prompt = 'cellsh-bench$ ';
  let users: BenchUser[] = [];
  let baselines: Baselines | undefined;
  const cleanUp = (): void => {
    baselines?.stop();
    removeBulkUsers();
    removeUsers(inst, users);
    rmSync(work, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanUp();
    process.exit(130);
  });
  process.on('SIGTERM', () => {
    cleanUp();
    process.exit(143);
  });
  try {
    progress(`creating ${3 + Math.max(sizes.idleContainers, sizes.scaleUsers)} users and the baselines' containers`);
    users = createUsers(inst, 3 + Math.max(sizes.idleContainers, sizes.scaleUsers), prompt);
    const [warm, cold, settings, ...pool] = users as [BenchUser, BenchUser, BenchUser, ...BenchUser[]];
    const policy = `defaults: {}\nusers:\n  ${settings.name}:\n    user_may_set: [env]\n`;
    mustApply(inst, policy);
    baselines = setUpBaselines(work, warm.uid);
    const bench: Bench = {
      inst,
      timer,
      work,
      sizes,
      users: { warm, cold, settings, pool },
      baselines,
      prompt,
      progress,
    };

    if (args.only === 'images') {
      const images = measureImages(bench, policy);
      process.stdout.write(`## cellsh benchmark (--only images)\n\n${machine()}\n\n${renderTable(images.table)}`);
      if (args.json)
        writeFileSync(args.json, `${JSON.stringify({ machine: machine(), sizes, tables: [images.table] }, null, 2)}\n`);
      return 0;
    }
    // First, while nothing else the bench starts is still settling: its few ms drown in background work.
    const pam = measurePam(bench);
    const commands = measureCommands(bench);
    const interactive = measureInteractive(bench);
    const terminal = measureTerminal(bench);
    const memory = await measureMemory(bench);
    const scale = measureScale(bench);
    const ssh = await measureSsh(bench);
    const enrolled = measureEnrolled(bench);
    const nat = await measureNat(bench);
    const images = measureImages(bench, policy);
    const throughputBytes = terminal.runs.get('thru-cellsh')?.bytes[0] ?? 0;
    const expected = Number(/(\d+) bytes expected/.exec(terminal.tables[0]!.notes[0]!)?.[1] ?? throughputBytes);
    const v = verdicts({
      commands,
      interactive,
      terminal,
      memory,
      scale,
      enrolled,
      ssh,
      pam,
      throughputBytes: expected,
    });
    const tables: Table[] = [
      targetsTable(v),
      ...commands.tables,
      interactive.table,
      ...terminal.tables,
      ...memory.tables,
      scale.table,
      ...ssh.tables,
      pam.table,
      enrolled.table,
      nat,
      images.table,
    ];
    process.stdout.write(
      `## cellsh benchmark${args.quick ? ' (--quick: few samples, a smoke check)' : ''}\n\n${machine()}\n\n${tables.map(renderTable).join('\n')}`,
    );
    if (args.json) {
      writeFileSync(
        args.json,
        JSON.stringify(
          {
            machine: machine(),
            sizes,
            verdicts: v,
            tables,
            samples: {
              commands: Object.fromEntries(commands.runs),
              interactive: Object.fromEntries(interactive.runs),
              terminal: Object.fromEntries(terminal.runs),
              echoes: Object.fromEntries(terminal.echoes),
            },
            memory: { idle: memory.idle, sessions: memory.sessions },
            scale: { rounds: scale.rounds, leftovers: scale.leftovers },
            enrolled: {
              runs: Object.fromEntries(enrolled.runs),
              applyMs: enrolled.applyMs,
              applyTenthMs: enrolled.applyTenthMs,
            },
            ssh: { runs: Object.fromEntries(ssh.runs), echoes: Object.fromEntries(ssh.echoes), crowd: ssh.crowd },
            pam: pam.samples,
          },
          null,
          2,
        ) + '\n',
      );
      progress(`wrote ${args.json}`);
    }
    return 0;
  } finally {
    cleanUp();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
