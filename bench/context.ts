// What every question of the benchmark works with: the private installation,
// the stopwatch, the bench users and how many runs a question takes.
import type { TestInstall } from '../test/helpers/install.js';
import type { Baselines } from './setup/baselines.js';
import type { BenchUser } from './setup/users.js';

/** How much each question measures (--quick: a smoke run). */
export interface Sizes {
  /** Interleaved runs of each non-interactive command, after warmup runs. */
  readonly runs: number;
  readonly warmup: number;
  /** Runs of each interactive login and Node baseline. */
  readonly loginRuns: number;
  /** Runs of each throughput path, and the payload's size. */
  readonly thruRuns: number;
  readonly thruMiB: number;
  /** Keystrokes sent to each echo path. */
  readonly pings: number;
  /** Idle containers and interactive sessions held for the memory figures. */
  readonly idleContainers: number;
  readonly sessions: number;
  /** Users logging in at the same moment. */
  readonly scaleUsers: number;
  /** Enrolled users for the "at any number of users" question. */
  readonly enrolledUsers: number;
  /** Interleaved runs of each ssh row, and logins at once through sshd. */
  readonly sshRuns: number;
  readonly crowdLogins: number;
  /** The payload of `ssh -tt host cat FILE` (48 MiB: 50 MB). */
  readonly sshThruMiB: number;
  /** Interleaved runs of a whole ssh connection with and without pam_cellsh. */
  readonly connRuns: number;
  /** Rounds of 5 pam_open_session calls through each PAM service. */
  readonly pamRounds: number;
  /** Interleaved imports of the Debian image, and of its umoci baseline. */
  readonly imageRuns: number;
}

export const FULL: Sizes = {
  runs: 40,
  warmup: 3,
  loginRuns: 20,
  thruRuns: 5,
  thruMiB: 32,
  pings: 400,
  idleContainers: 10,
  sessions: 5,
  scaleUsers: 50,
  enrolledUsers: 100_000,
  sshRuns: 15,
  crowdLogins: 100,
  sshThruMiB: 48,
  connRuns: 60,
  pamRounds: 16,
  imageRuns: 3,
};
export const QUICK: Sizes = {
  runs: 6,
  warmup: 1,
  loginRuns: 4,
  thruRuns: 2,
  thruMiB: 4,
  pings: 60,
  idleContainers: 3,
  sessions: 2,
  scaleUsers: 8,
  enrolledUsers: 10_000,
  sshRuns: 3,
  crowdLogins: 20,
  sshThruMiB: 4,
  connRuns: 4,
  pamRounds: 2,
  imageRuns: 1,
};

/** The bench's users by role; `pool` are the rest (memory, scale). */
export interface Users {
  /** Has a running container for the "container running" rows. */
  readonly warm: BenchUser;
  /** Has no container when each "first login" run starts. */
  readonly cold: BenchUser;
  /** May set keys of their own, so their commands take the Node path. */
  readonly settings: BenchUser;
  readonly pool: readonly BenchUser[];
}

export interface Bench {
  readonly inst: TestInstall;
  /** The stopwatch binary (bench/timer.c). */
  readonly timer: string;
  /** A scratch folder, world-readable, removed at the end. */
  readonly work: string;
  readonly sizes: Sizes;
  readonly users: Users;
  readonly baselines: Baselines;
  /** Text in the prompt of every bench user's shell. */
  readonly prompt: string;
  /** A progress line on stderr (tables go to stdout). */
  progress(msg: string): void;
}
