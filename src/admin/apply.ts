// `cellsh-admin apply`: validate the policy and, only if it has no errors,
// install the compiled form the helper reads. The old compiled file stays in
// place until the new one is complete on disk (write a temp file, fsync,
// rename over, fsync the folder), so a crash or a bad edit never leaves the
// helper without a valid policy.
import { isDeepStrictEqual } from 'node:util';
import { CellshError, ExitCode } from '../errors.js';
import type { Layout } from '../layout.js';
import { logEvent, type EventLogger } from '../log.js';
import {
  errorsOf,
  FIELDS,
  formatCompiled,
  parseCompiled,
  plural,
  type PolicyEnv,
  type PolicySource,
  type SettingKey,
} from '../policy/index.js';
import { buildInstalled } from './installed.js';
import { printDiagnostics, type TextOut } from './check.js';
import { applyForwarding, type ForwardingResult } from './sshd-forwarding.js';
import { keepPublishedPorts } from './udp-ports.js';
import { writeFileAtomic } from './write-atomic.js';

/** The policy's forwarding keys (forwarding.local, ...), from the schema. */
const FORWARDING_KEYS = (Object.keys(FIELDS) as SettingKey[]).filter((k) => k.startsWith('forwarding.'));

/** The compiled policy is readable by all (the login path reads it), writable by root. */
export const COMPILED_MODE = 0o644;
/** Folders created for it. */
export const COMPILED_DIR_MODE = 0o755;

/** What apply needs. */
export interface ApplyOptions {
  readonly layout: Layout;
  readonly env: PolicyEnv;
  readonly log: EventLogger;
  readonly out: TextOut;
  readonly err: TextOut;
  /** The effective uid (must be 0) and the real uid recorded as by_uid. */
  readonly euid: number;
  readonly byUid: number;
  /** A file of the policy whose text is given here instead of read (edit's checked copy). */
  readonly replace?: PolicySource;
  /** The sshd that checks its configuration (default Debian's); a test seam. */
  readonly sshd?: string;
  /** Test seam: called after the temp file is complete, before the rename. */
  readonly beforeRename?: () => void;
}

/** Refuse unless running as root. */
export function assertRoot(euid: number, layout: Layout): void {
  if (euid !== 0) {
    throw new CellshError('not-root', `apply must run as root: it writes ${layout.compiledPolicy}`, {
      hint: 'run it with sudo',
      exitCode: ExitCode.refused,
    });
  }
}

/** Validate and install the policy; returns the exit code (0, or 78 if the policy was rejected). */
export function runApply(opts: ApplyOptions): number {
  assertRoot(opts.euid, opts.layout);
  const { layout } = opts;
  const built = buildInstalled(layout, opts.env, opts.replace);
  const files = [...built.policy.files];
  printDiagnostics(built.diagnostics, opts.err);
  const errors = errorsOf(built.diagnostics);
  if (errors.length > 0) {
    logEvent(opts.log, 'policy-rejected', { files, problems: errors.length, by_uid: opts.byUid });
    opts.err.write(
      `${layout.policyFile}: ${plural(errors.length, 'error')}; nothing applied, ${layout.compiledPolicy} is unchanged\n`,
    );
    return ExitCode.config;
  }
  const comment = `written by cellsh-admin apply from ${files.join(', ')}\ndo not edit: change the policy and run "cellsh-admin apply"`;
  const text = formatCompiled(built.users, comment);
  if (!isDeepStrictEqual(parseCompiled(text), built.users)) {
    throw new CellshError('policy-roundtrip', 'the compiled policy does not read back as written', {
      exitCode: ExitCode.internal,
    });
  }
  writeFileAtomic(layout.compiledPolicy, text, {
    mode: COMPILED_MODE,
    dirMode: COMPILED_DIR_MODE,
    beforeRename: opts.beforeRename,
  });
  logEvent(opts.log, 'policy-apply', { files, users: built.users.length, by_uid: opts.byUid });
  opts.out.write(`applied: ${plural(built.users.length, 'user')} -> ${layout.compiledPolicy}\n`);
  const defaults = built.policy.defaults.settings.forwarding;
  const opensAny = [defaults, ...built.forwarding.values()].some((f) => f.local || f.remote || f.x11);
  const setsAny = built.policy.layers.some((l) => FORWARDING_KEYS.some((k) => l.settings?.[k] !== undefined));
  const ports = keepPublishedPorts(layout, built.users, opts.out, opts.err);
  const result = applyForwarding(layout, defaults, built.forwarding, opts.sshd);
  if (result.kind === 'written' || result.kind === 'refused')
    logEvent(opts.log, 'sshd-forwarding', {
      file: result.path,
      outcome: result.kind === 'refused' ? 'refused' : result.sshd,
      by_uid: opts.byUid,
    });
  const forwarding = reportForwarding(result, opts, { opensAny, setsAny });
  return forwarding === ExitCode.ok ? ports : forwarding;
}

/** Say what became of sshd's forwarding drop-in; a refusal is the exit status. */
function reportForwarding(
  r: ForwardingResult,
  opts: ApplyOptions,
  { opensAny, setsAny }: { opensAny: boolean; setsAny: boolean },
): number {
  const closedNote = (path: string): string =>
    `note: pam_cellsh is not in ${opts.layout.sshdPam}, so ${path} keeps every ssh forward closed whatever the policy says; run install.sh again to put it back\n`;
  switch (r.kind) {
    case 'absent':
      if (setsAny)
        opts.err.write(
          "note: the policy's forwarding settings have no effect here: pam_cellsh is not installed, so sshd keeps every forward closed (install.sh installs it)\n",
        );
      return ExitCode.ok;
    case 'unchanged':
      if (r.closed && opensAny) opts.err.write(closedNote(r.path));
      return ExitCode.ok;
    case 'written':
      opts.out.write(
        `applied: ssh forwarding -> ${r.path} (${r.sshd === 'reloaded' ? 'sshd reloaded' : 'sshd reads it when it starts'})\n`,
      );
      if (r.closed && opensAny) opts.err.write(closedNote(r.path));
      return ExitCode.ok;
    case 'refused':
      opts.err.write(
        `sshd refuses its configuration (sshd -t: ${r.why}), so ${r.path} is unchanged and ssh forwarding keeps its old settings; fix sshd's configuration, then run "cellsh-admin apply" again\n`,
      );
      return ExitCode.config;
  }
}
