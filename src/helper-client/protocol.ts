// The helper's command line and channel message, built and read by the rules
// of the contract (src/contract/index.ts), which the helper includes as
// contract.h. test/unit/contract runs what this module produces through the
// helper's own parser.
import { FDS, HELPER_ARGV, STARTED } from '../contract/index.js';

/** The fd the helper expects its channel on. */
export const CHANNEL_FD = FDS.channel;
/** The fd the launcher's early start hands Node the helper's stderr on, when
 * Node's own is a terminal. */
export const ATTACHED_STDERR_FD = FDS.attachedStderr;
/** The fd the launcher's early start hands Node sshd's agent socket on (an
 * O_PATH fd of the checked socket). */
export const AGENT_FD = FDS.agent;

/** Which of fds 0, 1, 2 get the inner pty, and its initial size. */
export interface PtySpec {
  readonly mask: number;
  readonly rows: number;
  readonly cols: number;
}

/** What to run: the login shell, a command through the shell's -c, or (as
 * root) stop a user's container, telling its sessions why, or keep the UDP
 * ports the applied policy publishes for the NAT. */
export type HelperRequest =
  | { readonly verb: 'login' }
  | { readonly verb: 'run'; readonly command: string }
  | { readonly verb: 'stop'; readonly uid: number; readonly notice?: string | undefined }
  | { readonly verb: 'ports' };

const MAX_DIM = HELPER_ARGV.ptyMaxDim;

/** The helper's argv (without argv[0]) for a request; sets are the user's own
 * settings as KEY=VALUE in the compiled policy's notation. */
export function helperArgs(req: HelperRequest, pty?: PtySpec, agent = false, sets: readonly string[] = []): string[] {
  if (req.verb === 'stop')
    return ['stop', String(req.uid), ...(req.notice === undefined ? [] : ['--notice', req.notice])];
  if (req.verb === 'ports') return ['ports'];
  if (sets.length > HELPER_ARGV.maxSets)
    throw new RangeError(`${sets.length} settings: the helper takes at most ${HELPER_ARGV.maxSets}`);
  const args: string[] = [req.verb];
  if (pty) {
    if (pty.mask < 1 || pty.mask > 7) throw new RangeError(`pty mask ${pty.mask} is not 1-7`);
    args.push('--pty', `${pty.mask}:${clampDim(pty.rows)}x${clampDim(pty.cols)}`);
  }
  if (agent) args.push('--agent');
  for (const set of sets) args.push('--set', set);
  if (req.verb === 'run') args.push(req.command);
  return args;
}

function clampDim(n: number): number {
  return Math.min(MAX_DIM, Math.max(1, Math.floor(n) || 1));
}

/** The fds the "started" message carries, in order: the program's pidfd
 * always, the pty master with --pty, the agent's listening socket and its
 * folder with --agent (src/helper/session.c, enter_and_exec). */
export function startedFdCount(pty: boolean, agent: boolean): number {
  return 1 + (pty ? 1 : 0) + (agent ? 2 : 0);
}

/** The message the helper sends once the program is about to start. */
export interface StartedMessage {
  readonly session: string;
  readonly container: string;
  readonly created: boolean;
  /** With --agent: the name of this session's socket in the container's agents folder. */
  readonly agentSocket: string | undefined;
}

const ID = `([0-9a-f]{${STARTED.idHexLen}})`;
const STARTED_MESSAGE = new RegExp(
  `^${STARTED.word} ${ID} ${ID} (${STARTED.created}|${STARTED.joined})(?: ([0-9]{1,20}-\\1\\${STARTED.socketSuffix}))?$`,
);

/** Parse "started <session> <container> created|joined [<ms>-<session>.sock]", or undefined. */
export function parseStarted(text: string): StartedMessage | undefined {
  const m = STARTED_MESSAGE.exec(text);
  return m ? { session: m[1]!, container: m[2]!, created: m[3] === STARTED.created, agentSocket: m[4] } : undefined;
}
