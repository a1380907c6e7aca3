// The Node side of a terminal session the launcher started itself (the early
// start in src/helper/launcher.c): the helper is already creating or joining
// the container while Node loads, so all that is left here is to relay. The
// launcher took this route only for a user in the policy with no settings of
// their own and no agent to relay; everything else comes through login.js.
// argv: node, this script, "--", the helper's pid.
import { fstatSync } from 'node:fs';
import { CellshError, describeError, exitCodeOf, ExitCode } from '../errors.js';
import { attachHelper } from '../helper-client/client.js';
import { CHANNEL_FD } from '../helper-client/protocol.js';
import { relayTerminal } from '../session/run.js';

const PROG = 'cellsh';

async function main(argv: readonly string[]): Promise<number> {
  const pid = Number(argv[argv.indexOf('--', 2) + 1]);
  if (!Number.isSafeInteger(pid) || pid <= 1 || !isSocket(CHANNEL_FD)) {
    throw new CellshError('usage', 'this part of cellsh is started by the cellsh launcher only', {
      hint: 'log in as usual (ssh, su -), or run cellsh', exitCode: ExitCode.usage,
    });
  }
  return relayTerminal(await attachHelper(pid));
}

function isSocket(fd: number): boolean {
  try {
    return fstatSync(fd).isSocket();
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
