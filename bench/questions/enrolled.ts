// Enrolled users: does a login cost the same with 100,000 users enrolled as
// with the bench's own few, and how long does `cellsh-admin apply` take for
// them? The extra users are passwd entries and members of the installation's
// group (test/helpers/bulk-users.ts), so NSS, apply, the launcher, Node and the
// helper all see a host of that size. The two states take turns in blocks
// (account files and compiled policy swapped between blocks), and every extra
// user is taken out again at the end, also when a step fails.
import { spawnSync } from 'node:child_process';
import { copyFileSync, renameSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { enrolledUsers, nssDirectory } from '../../src/sys/users.js';
import {
  readAccounts,
  removeBulkUsers,
  withBulk,
  writeAccounts,
  type AccountFiles,
} from '../../test/helpers/bulk-users.js';
import type { Bench } from '../context.js';
import { fmtBytes, fmtMs, timingRows, TIMING_HEAD, type Row, type Table } from '../report.js';
import { timeRuns, type Command, type Runs } from '../timer.js';

/** Blocks per state: A B A B A B. */
const BLOCKS = 3;

export interface EnrolledResults {
  readonly table: Table;
  readonly runs: ReadonlyMap<string, Runs>;
  /** Enrolled users in the small state and the large one. */
  readonly small: number;
  readonly large: number;
  /** Wall ms of `cellsh-admin apply` at a tenth of large and at large (undefined: failed). */
  readonly applyTenthMs: number | undefined;
  readonly applyMs: number | undefined;
  readonly compiledBytes: number;
  /** Extra users still in the account files after the question ("" none). */
  readonly leftovers: string;
}

/** A state: the account files and a copy of the compiled policy applied for them. */
interface State {
  readonly accounts: AccountFiles;
  readonly compiled: string;
}

/** Apply, timed; undefined if it failed. */
function timedApply(bench: Bench): number | undefined {
  const start = performance.now();
  const r = spawnSync(bench.inst.admin, ['apply'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - start;
  if (r.status !== 0) {
    bench.progress(`enrolled users: apply failed: ${(r.stderr ?? '').trim().split('\n').at(-1) ?? r.status}`);
    return undefined;
  }
  return ms;
}

/** Put a state in place: its account files, its compiled policy (renamed over, as apply does). */
function enter(bench: Bench, s: State): void {
  writeAccounts(s.accounts);
  const tmp = `${bench.inst.compiledPolicy}.bench`;
  copyFileSync(s.compiled, tmp);
  renameSync(tmp, bench.inst.compiledPolicy);
}

export function measureEnrolled(bench: Bench): EnrolledResults {
  const { inst, users, sizes } = bench;
  const cmds: Command[] = [
    { name: 'launcher', file: inst.launcher, argv: ['cellsh', '-c', 'true'], uid: users.warm.uid },
    { name: 'node', file: inst.launcher, argv: ['cellsh', '-c', 'true'], uid: users.settings.uid },
  ];
  const small = enrolledUsers(nssDirectory(), inst.group).length;
  const large = sizes.enrolledUsers;
  const original = readAccounts();
  const runs = new Map<string, Runs>();
  let applyTenthMs: number | undefined;
  let applyMs: number | undefined;
  let compiledBytes = 0;
  try {
    const a: State = { accounts: original, compiled: `${bench.work}/policy.small` };
    copyFileSync(inst.compiledPolicy, a.compiled);
    bench.progress(`enrolled users: applying for ${large / 10} and ${large} users`);
    writeAccounts(withBulk(original, large / 10 - small, inst.group));
    applyTenthMs = timedApply(bench);
    const b: State = {
      accounts: withBulk(original, large - small, inst.group),
      compiled: `${bench.work}/policy.large`,
    };
    writeAccounts(b.accounts);
    applyMs = timedApply(bench);
    compiledBytes = statSync(inst.compiledPolicy).size;
    copyFileSync(inst.compiledPolicy, b.compiled);
    const per = Math.max(2, Math.ceil(sizes.runs / BLOCKS));
    bench.progress(`enrolled users: ${small} against ${large}, ${BLOCKS} blocks of ${per} runs each, taking turns`);
    for (let i = 0; i < BLOCKS; i++) {
      for (const [tag, state] of [
        ['small', a],
        ['large', b],
      ] as const) {
        enter(bench, state);
        for (const [name, r] of timeRuns(bench.timer, cmds, { runs: per, warmup: 1 })) {
          const key = `${name}-${tag}`;
          const had = runs.get(key);
          runs.set(
            key,
            had
              ? {
                  ...r,
                  name: key,
                  ms: [...had.ms, ...r.ms],
                  errors: had.errors + r.errors,
                  error: had.error || r.error,
                }
              : { ...r, name: key },
          );
        }
      }
      enter(bench, a);
    }
  } finally {
    removeBulkUsers();
    timedApply(bench); // the bench's own users again, from the account files as they were
  }
  const left = readAccounts()
    .passwd.split('\n')
    .filter((l) => l.startsWith('cellsh-t-n')).length;
  const leftovers = left ? `${left} extra users still in /etc/passwd` : '';
  const vsLauncher = { key: 'launcher-small', label: `${small} users` };
  const vsNode = { key: 'node-small', label: `${small} users` };
  const rows: Row[] = [
    { label: `launcher alone: \`cellsh -c true\` (fast path), ${small} users enrolled`, key: 'launcher-small' },
    { label: `the same, ${large.toLocaleString('en')} users enrolled`, key: 'launcher-large', vs: vsLauncher },
    { label: `\`cellsh -c true\` of a user with own settings (Node path), ${small} users enrolled`, key: 'node-small' },
    { label: `the same, ${large.toLocaleString('en')} users enrolled`, key: 'node-large', vs: vsNode },
  ];
  const applyCell = (ms: number | undefined): string => (ms === undefined ? 'failed' : `${fmtMs(ms)} ms`);
  return {
    runs,
    small,
    large,
    applyTenthMs,
    applyMs,
    compiledBytes,
    leftovers,
    table: {
      title: `Enrolled users: a login at ${small} and at ${large.toLocaleString('en')} enrolled users`,
      head: [...TIMING_HEAD],
      rows: timingRows(rows, runs),
      notes: [
        `Each user's container running. The states took turns in ${BLOCKS} blocks each (account files and compiled policy swapped between blocks).`,
        `\`cellsh-admin apply\`: ${applyCell(applyTenthMs)} for ${(large / 10).toLocaleString('en')} users, ${applyCell(applyMs)} for ${large.toLocaleString('en')}; the compiled policy for ${large.toLocaleString('en')} is ${fmtBytes(compiledBytes)}.`,
        `The extra users are passwd entries in Debian's "users" group and members of the installation's group; afterwards: ${leftovers || 'none left'}.`,
      ],
    },
  };
}
