// The Node login shell: what the launcher (src/helper/launcher.c) starts as
// the user, with a scrubbed environment, HOME at a root-owned folder and cwd
// "/". It reads its record in the applied policy, decides how to run the
// session, starts the helper and relays.
// argv: node, this script, "--", the caller's argv[0], the caller's arguments.
import { describeError, exitCodeOf } from '../errors.js';
import { loadLayout } from '../layout.js';
import { assertEnrolled } from '../session/enrolment.js';
import { parseInvocation } from '../session/invocation.js';
import { runSession } from '../session/run.js';
import { userSettings } from '../session/user-settings.js';

const PROG = 'cellsh';

async function main(argv: readonly string[]): Promise<number> {
  const sep = argv.indexOf('--', 2);
  const args = sep >= 0 ? argv.slice(sep + 2) : argv.slice(2);
  const layout = loadLayout();
  const invocation = parseInvocation(args, {
    self: layout.launcher,
    originalCommand: process.env['SSH_ORIGINAL_COMMAND'],
  });
  const record = assertEnrolled(layout.compiledPolicy, process.getuid!());
  const mine = record ? await userSettings(record) : undefined;
  for (const line of mine?.messages ?? []) process.stderr.write(`${PROG}: ${line}\n`);
  const display = process.env['DISPLAY'];
  if (record && display !== undefined) {
    const problem = (await import('../session/x11.js')).shareDisplayCookie(display, record.home);
    if (problem) process.stderr.write(`${PROG}: ${problem}\n`);
  }
  return runSession(layout.helper, invocation, mine?.sets);
}

main(process.argv).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(describeError(PROG, err));
    process.exit(exitCodeOf(err));
  },
);
