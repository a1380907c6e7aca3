// Starting the setuid helper: argv arrays only (never a shell), the allowlisted
// environment the launcher left, and the SEQPACKET channel on fd 3 when a pty
// master must come back.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants } from 'node:os';
import { helperArgs, parseStarted, type HelperRequest, type PtySpec, type StartedMessage } from './protocol.js';
import { CellshError, ExitCode } from '../errors.js';

/** What the helper sends when the program starts: who, where, and the pty master if asked for. */
export interface Started extends StartedMessage {
  readonly master: number | undefined;
}

/** A running helper. */
export interface HelperProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit status the helper reports (128+N for signal N). */
  readonly exited: Promise<number>;
  /** Resolves once the program is starting; undefined if the helper ended first. */
  readonly started: Promise<Started | undefined>;
}

/** Start the helper. stdio gives fds 0-2 for it; a channel is added when pty is set.
 * koffi (libc) is loaded only then: commands without a terminal don't pay for it. */
export async function startHelper(helper: string, req: HelperRequest, stdio: StdioOptions & unknown[], pty?: PtySpec): Promise<HelperProcess> {
  const libc = pty ? await import('../sys/libc.js') : undefined;
  const channel = libc?.seqpacketPair();
  const fds = [...stdio];
  if (channel) fds[3] = channel[1];
  const child = spawn(helper, helperArgs(req, pty), { stdio: fds as StdioOptions, env: process.env });
  if (channel) libc!.closeFd(channel[1]);
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(new CellshError('helper-unavailable', `can't run ${helper}: ${err.code ?? err.message}`, {
        hint: 'ask your administrator to check that you are in the cellsh group and to run "cellsh-admin doctor"',
        exitCode: ExitCode.config,
      }));
    });
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
  const started = channel ? receiveStarted(libc!, channel[0]) : Promise.resolve(undefined);
  return { child, exited, started };
}

async function receiveStarted(libc: typeof import('../sys/libc.js'), fd: number): Promise<Started | undefined> {
  try {
    const msg = await libc.receiveMessage(fd);
    if (!msg) return undefined;
    const parsed = parseStarted(msg.text);
    if (!parsed) {
      if (msg.fd !== undefined) libc.closeFd(msg.fd);
      throw new CellshError('helper-protocol', `the helper sent an unexpected message: ${JSON.stringify(msg.text.slice(0, 80))}`, {
        exitCode: ExitCode.internal,
      });
    }
    return { ...parsed, master: msg.fd };
  } finally {
    libc.closeFd(fd);
  }
}
