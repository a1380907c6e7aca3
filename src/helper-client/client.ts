// Starting the setuid helper: argv arrays only (never a shell), the allowlisted
// environment the launcher left, and the SEQPACKET channel on fd 3 when a pty
// master must come back.
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { isatty } from 'node:tty';
import {
  ATTACHED_STDERR_FD,
  CHANNEL_FD,
  helperArgs,
  parseStarted,
  startedFdCount,
  type HelperRequest,
  type PtySpec,
  type StartedMessage,
} from './protocol.js';
import { CellshError, ExitCode } from '../errors.js';

/** What the helper sends when the program starts: who, where, and the fds asked for. */
export interface Started extends StartedMessage {
  /** A pidfd of the program itself: signals for the session go there. */
  readonly pidfd: number;
  /** The pty master (with a pty). */
  readonly master: number | undefined;
  /** The agent's listening socket, its folder inside the container and its name there (with --agent). */
  readonly agent: { readonly listener: number; readonly dir: number; readonly name: string } | undefined;
}

/** What to ask the helper for beyond the program itself. */
export interface HelperOptions {
  readonly pty?: PtySpec | undefined;
  readonly agent?: boolean | undefined;
  /** The user's own settings (--set KEY=VALUE), already checked against their record. */
  readonly sets?: readonly string[] | undefined;
}

/** A running helper, whoever started it. */
export interface RunningHelper {
  /** Send the session's program a signal, through its pidfd: the helper runs
   * as root, out of the user's reach. A hang-up or termination asked for
   * before the program starts is passed on when it does. */
  kill(signal: NodeJS.Signals): void;
  /** The helper's stderr, when it is a pipe for us to relay. */
  readonly stderr: Readable | null;
  /** Resolves with the exit status the helper reports (128+N for signal N). */
  readonly exited: Promise<number>;
  /** Resolves once the program is starting; undefined if the helper ended first. */
  readonly started: Promise<Started | undefined>;
}

/** A helper started here. */
export interface HelperProcess extends RunningHelper {
  readonly child: ChildProcess;
}

/** Start the helper. stdio gives fds 0-2 for it; the channel goes on fd 3. It
 * starts in a session of its own (setsid), out of the terminal's foreground
 * process group: a ^C, ^\ or ^Z typed before the relay makes the terminal raw
 * must not reach a process that is still root (SA-07). */
export async function startHelper(
  helper: string,
  req: HelperRequest,
  stdio: StdioOptions & unknown[],
  opts: HelperOptions = {},
): Promise<HelperProcess> {
  const { pty, agent = false, sets = [] } = opts;
  const { spawn } = await import('node:child_process'); // not on the early start's path
  const libc = await import('../sys/libc.js');
  const channel = libc.seqpacketPair();
  const fds = [...stdio];
  fds[3] = channel[1];
  const child = spawn(helper, helperArgs(req, pty, agent, sets), {
    stdio: fds as StdioOptions,
    env: process.env,
    detached: true,
  });
  libc.closeFd(channel[1]);
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new CellshError('helper-unavailable', `can't run ${helper}: ${err.code ?? err.message}`, {
          hint: 'ask your administrator to check that you are in the cellsh group and to run "cellsh-admin doctor"',
          exitCode: ExitCode.config,
        }),
      );
    });
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
  const started = receiveStarted(libc, channel[0], pty !== undefined, agent);
  return { child, kill: programSignals(libc, started, exited), stderr: child.stderr, exited, started };
}

/** kill() for a session: through the program's pidfd once it has started,
 * which is closed when the helper ends. */
function programSignals(
  libc: typeof import('../sys/libc.js'),
  started: Promise<Started | undefined>,
  exited: Promise<number>,
): (sig: NodeJS.Signals) => void {
  let pidfd: number | undefined;
  let pending: NodeJS.Signals | undefined;
  let over = false;
  const send = (sig: NodeJS.Signals): void => {
    try {
      libc.pidfdSignal(pidfd!, constants.signals[sig]);
    } catch {
      // the program is gone
    }
  };
  started.then(
    (s) => {
      if (!s || over) return;
      pidfd = s.pidfd;
      if (pending) send(pending);
    },
    () => undefined,
  );
  const close = (): void => {
    over = true;
    if (pidfd !== undefined) libc.closeFd(pidfd);
    pidfd = undefined;
  };
  exited.then(close, close);
  return (sig) => {
    if (pidfd !== undefined) send(sig);
    else if (sig === 'SIGHUP' || sig === 'SIGTERM') pending = sig;
  };
}

/** The helper the launcher started for a terminal session (src/helper/launcher.c,
 * the early start): our child, though not Node's (libuv only reaps its own, so
 * SIGCHLD and waitpid tell when it ends), its channel on fd 3 and its stderr on
 * fd 4 when ours is a terminal; started with --agent when agent is true. */
export async function attachHelper(pid: number, agent = false): Promise<RunningHelper> {
  const libc = await import('../sys/libc.js');
  const started = receiveStarted(libc, CHANNEL_FD, true, agent);
  const exited = new Promise<number>((resolve, reject) => {
    const done = (settle: () => void): void => {
      process.off('SIGCHLD', check);
      settle();
    };
    const check = (): void => {
      try {
        const code = libc.reapChild(pid);
        if (code !== undefined) done(() => resolve(code));
      } catch (err) {
        done(() =>
          reject(
            new CellshError('helper-lost', `lost track of the session: ${(err as Error).message}`, {
              exitCode: ExitCode.internal,
            }),
          ),
        );
      }
    };
    process.on('SIGCHLD', check);
    check();
  });
  const stderr = isatty(2) ? new Socket({ fd: ATTACHED_STDERR_FD, readable: true, writable: false }) : null;
  return { kill: programSignals(libc, started, exited), stderr, exited, started };
}

async function receiveStarted(
  libc: typeof import('../sys/libc.js'),
  fd: number,
  pty: boolean,
  agent: boolean,
): Promise<Started | undefined> {
  try {
    const msg = await libc.receiveMessage(fd);
    if (!msg) return undefined;
    const parsed = parseStarted(msg.text);
    if (!parsed || msg.fds.length !== startedFdCount(pty, agent) || (parsed.agentSocket !== undefined) !== agent) {
      for (const f of msg.fds) libc.closeFd(f);
      throw new CellshError(
        'helper-protocol',
        `the helper sent an unexpected message: ${JSON.stringify(msg.text.slice(0, 80))}`,
        {
          exitCode: ExitCode.internal,
        },
      );
    }
    const [pidfd, ...rest] = msg.fds;
    const [master, listener, dir] = pty ? rest : [undefined, ...rest];
    return {
      ...parsed,
      pidfd: pidfd!,
      master,
      agent: agent ? { listener: listener!, dir: dir!, name: parsed.agentSocket! } : undefined,
    };
  } finally {
    libc.closeFd(fd);
  }
}
