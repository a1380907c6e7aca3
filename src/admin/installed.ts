// The installed policy as every verb reads it: /etc/cellsh/policy.yaml, then
// /etc/cellsh/policy.d/*.yaml in name order, built against this host; and the
// applied one, the compiled file the helper reads. The installed files are read
// only if root alone could have written them (policy/trust.ts).
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CellshError, ExitCode } from '../errors.js';
import type { Layout } from '../layout.js';
import {
  buildPolicy,
  parseCompiled,
  policyFiles,
  sortDiagnostics,
  type Built,
  type CompiledUser,
  type PolicyEnv,
  type PolicySource,
} from '../policy/index.js';
import { readTrusted, type TrustProblem } from '../policy/trust.js';

/** The folder an installed policy's symlinks must stay in: the main file's (/etc/cellsh). */
export function policyFolder(layout: Layout): string {
  return dirname(layout.policyFile);
}

/** The installed policy's files, each read from disk (if trusted) unless `replace` gives its text (edit's copy). */
export function installedSources(
  layout: Layout,
  replace?: PolicySource,
): { sources: PolicySource[]; listing: Built['diagnostics'] } {
  const { files, diagnostics } = policyFiles(layout.policyFile, layout.policyDir);
  const trustedIn = policyFolder(layout);
  const sources = files.map((file) => (replace && replace.file === file ? replace : { file, trustedIn }));
  if (replace && !files.includes(replace.file)) sources.push(replace);
  return { sources, listing: diagnostics };
}

/** Build the installed policy (with one file's text replaced, for edit). */
export function buildInstalled(layout: Layout, env: PolicyEnv, replace?: PolicySource): Built {
  const { sources, listing } = installedSources(layout, replace);
  const built = buildPolicy(sources, env);
  return { ...built, diagnostics: sortDiagnostics([...listing, ...built.diagnostics]) };
}

/** Why each installed policy file (and `extra`, if it exists) is not to be
 * trusted; empty when root alone could have written every one. */
export function untrustedPolicyFiles(layout: Layout, extra?: string): TrustProblem[] {
  const { files } = policyFiles(layout.policyFile, layout.policyDir);
  if (extra !== undefined && !files.includes(extra)) files.push(extra);
  return files.flatMap((file) => {
    const read = readTrusted(file, policyFolder(layout));
    return 'text' in read ? [] : read.problems;
  });
}

/** The applied (compiled) policy's records, or undefined when nothing was applied yet. */
export function readApplied(layout: Layout): readonly CompiledUser[] | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(layout.compiledPolicy);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CellshError(
      'read-failed',
      `can't read the applied policy ${layout.compiledPolicy}: ${(err as Error).message}`,
    );
  }
  try {
    return parseCompiled(bytes);
  } catch (err) {
    throw new CellshError(
      'policy-compiled-invalid',
      `the applied policy ${layout.compiledPolicy} is damaged: ${(err as Error).message}`,
      {
        hint: 'run "cellsh-admin apply" to write it again',
        exitCode: ExitCode.config,
      },
    );
  }
}
