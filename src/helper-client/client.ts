// Starting the setuid helper: argv arrays only (never a shell), the allowlisted
// environment the launcher left, and the SEQPACKET channel on fd 3 when a pty
// master must come back.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants } from 'node:os';
import { helperArgs, parseStarted, type HelperRequest, type PtySpec, type StartedMessage } from './protocol.js';
import { CellshError, ExitCode } from '../errors.js';

/** What the helper sends when the program starts: who, where, and the fds asked for. */
export interface Started extends StartedMessage {
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

/** A running helper. */
export interface HelperProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit status the helper reports (128+N for signal N). */
  readonly exited: Promise<number>;
  /** Resolves once the program is starting; undefined if the helper ended first. */
  readonly started: Promise<Started | undefined>;
}

/** Start the helper. stdio gives fds 0-2 for it; a channel is added when a pty
 * or an agent is asked for. koffi (libc) is loaded only then: plain commands
 * don't pay for it. */
export async function startHelper(helper: string, req: HelperRequest, stdio: StdioOptions & unknown[], opts: HelperOptions = {}): Promise<HelperProcess> {
  const { pty, agent = false, sets = [] } = opts;
  const libc = pty || agent ? await import('../sys/libc.js') : undefined;
  const channel = libc?.seqpacketPair();
  const fds = [...stdio];
  if (channel) fds[3] = channel[1];
  const child = spawn(helper, helperArgs(req, pty, agent, sets), { stdio: fds as StdioOptions, env: process.env });
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
  const started = channel ? receiveStarted(libc!, channel[0], pty !== undefined, agent) : Promise.resolve(undefined);
  return { child, exited, started };
}

async function receiveStarted(libc: typeof import('../sys/libc.js'), fd: number, pty: boolean, agent: boolean): Promise<Started | undefined> {
  try {
    const msg = await libc.receiveMessage(fd);
    if (!msg) return undefined;
    const parsed = parseStarted(msg.text);
    if (!parsed || msg.fds.length !== (pty ? 1 : 0) + (agent ? 2 : 0) || (parsed.agentSocket !== undefined) !== agent) {
      for (const f of msg.fds) libc.closeFd(f);
      throw new CellshError('helper-protocol', `the helper sent an unexpected message: ${JSON.stringify(msg.text.slice(0, 80))}`, {
        exitCode: ExitCode.internal,
      });
    }
    const [master, listener, dir] = pty ? msg.fds : [undefined, ...msg.fds];
    return { ...parsed, master, agent: agent ? { listener: listener!, dir: dir!, name: parsed.agentSocket! } : undefined };
  } finally {
    libc.closeFd(fd);
  }
}
