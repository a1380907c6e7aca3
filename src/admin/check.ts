// `cellsh-admin check [FILE...]`: validate a policy exactly as `apply` would
// (schema, accounts, compilation) without writing anything, and report every
// problem with its place in the file. The installed policy is also checked for
// files apply would not trust; FILEs named on the command line are drafts.
import { hostname } from 'node:os';
import type { Layout } from '../layout.js';
import { imageFacts } from '../images/policy-facts.js';
import { ImageStore } from '../images/store.js';
import { accountRange, readSubIds, STORE_USER, storeRange } from '../images/store-range.js';
import { getpwnam } from '../sys/libc.js';
import { blockDevice } from '../sys/block.js';
import type { UserDirectory } from '../sys/users.js';
import {
  buildPolicy,
  countProblems,
  diagnosticJson,
  errorsOf,
  formatDiagnostic,
  plural,
  shortHostname,
  sortDiagnostics,
  warningsOf,
  type Built,
  type Diagnostic,
  type PolicyEnv,
} from '../policy/index.js';
import { ExitCode } from '../errors.js';

/** Where a verb writes text (process.stdout in the CLI, a collector in tests). */
export interface TextOut {
  write(text: string): unknown;
}

/** What check needs. */
export interface CheckOptions {
  /** The policy files to check, in layer order. */
  readonly files: readonly string[];
  /** Problems found while listing them (policy.d's odd names). */
  readonly listing?: readonly Diagnostic[];
  /** The policy folder when the files are the installed policy: then each is
   * checked as apply reads it (root's alone, symlinks inside the folder). */
  readonly trustedIn?: string;
  /** Print one JSON object to `out` instead of text. */
  readonly json: boolean;
  readonly env: PolicyEnv;
  readonly out: TextOut;
  readonly err: TextOut;
}

/** The accounts and host facts a layout's policy is compiled against. */
export function policyEnv(layout: Layout, dir: UserDirectory, host: string = shortHostname(hostname())): PolicyEnv {
  return {
    dir,
    group: layout.group,
    host,
    devices: blockDevice,
    images: imageFacts(new ImageStore(layout.imageStore)),
    subIds: (name) => {
      const uid = dir.user(name)?.uid;
      return uid === undefined ? undefined : accountRange(name, uid);
    },
    storeIds: () => storeRange(getpwnam(STORE_USER)?.uid),
    idClaims: once(() => ({
      uid: readSubIds('/etc/subuid'),
      gid: readSubIds('/etc/subgid'),
      ids: dir.allUsers().flatMap((u) => [u.uid, u.gid]),
    })),
  };
}

/** fn's value, worked out at the first call. */
function once<T>(fn: () => T): () => T {
  let value: { v: T } | undefined;
  return () => {
    if (!value) value = { v: fn() };
    return value.v;
  };
}

/** Print each problem on its own line. */
export function printDiagnostics(list: readonly Diagnostic[], err: TextOut): void {
  for (const d of list) err.write(formatDiagnostic(d) + '\n');
}

/** "policy.yaml: OK, 3 users" or "policy.yaml (+2 files): 2 errors, 1 warning". */
export function summaryLine(files: readonly string[], built: Built): string {
  const name = files.length > 1 ? `${files[0]} (+${plural(files.length - 1, 'file')})` : (files[0] ?? 'policy');
  const problems = countProblems(built.diagnostics);
  if (errorsOf(built.diagnostics).length > 0) return `${name}: ${problems}`;
  return `${name}: OK, ${plural(built.users.length, 'user')}${problems ? `, ${problems}` : ''}`;
}

/** Run the check; returns the exit code (0: no errors, 78: errors). */
export function runCheck(opts: CheckOptions): number {
  const read = buildPolicy(
    opts.files.map((file) => ({ file, trustedIn: opts.trustedIn })),
    opts.env,
  );
  const built = { ...read, diagnostics: sortDiagnostics([...(opts.listing ?? []), ...read.diagnostics]) };
  const errors = errorsOf(built.diagnostics);
  if (opts.json) {
    const report = {
      ok: errors.length === 0,
      errors: errors.map(diagnosticJson),
      warnings: warningsOf(built.diagnostics).map(diagnosticJson),
      users: built.users.length,
      files: opts.files,
    };
    opts.out.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    printDiagnostics(built.diagnostics, opts.err);
    opts.out.write(summaryLine(opts.files, built) + '\n');
  }
  return errors.length === 0 ? ExitCode.ok : ExitCode.config;
}
