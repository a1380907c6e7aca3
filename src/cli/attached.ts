// The Node side of a terminal session the launcher started itself (the early
// start in src/helper/launcher.c): the helper is already creating or joining
// the container while Node loads, so all that is left here is to relay. The
// launcher took this route only for a user in the policy with no settings of
// their own; everything else comes through login.js. With an agent to relay
// (ssh -A), the launcher checked sshd's agent socket as hostAgentSocket does
// and hands it on at AGENT_FD.
// argv: node, this script, "--", the helper's pid, and "--agent" with an agent.
import { fstatSync } from 'node:fs';
import { CellshError, describeError, exitCodeOf, ExitCode } from '../errors.js';
import { attachHelper } from '../helper-client/client.js';
import { AGENT_FD, CHANNEL_FD } from '../helper-client/protocol.js';
import { relayTerminal } from '../session/run.js';

const PROG = 'cellsh';

async function main(argv: readonly string[]): Promise<number> {
  const rest = argv.slice(argv.indexOf('--', 2) + 1);
  const pid = Number(rest[0]);
  const agent = rest[1] === '--agent';
  if (
    !Number.isSafeInteger(pid) ||
    pid <= 1 ||
    rest.length > (agent ? 2 : 1) ||
    !isSocket(CHANNEL_FD) ||
    (agent && !isSocket(AGENT_FD, process.getuid!()))
  ) {
    throw new CellshError('usage', 'this part of cellsh is started by the cellsh launcher only', {
      hint: 'log in as usual (ssh, su -), or run cellsh',
      exitCode: ExitCode.usage,
    });
  }
  return relayTerminal(await attachHelper(pid, agent), agent ? `/proc/self/fd/${AGENT_FD}` : undefined);
}

/** Is fd a socket (of uid, when given)? */
function isSocket(fd: number, uid?: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isSocket() && (uid === undefined || st.uid === uid);
  } catch {
    return false;
  }
}

main(process.argv).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(describeError(PROG, err));
    process.exit(exitCodeOf(err));
  },
);
