// The installed policy as every verb reads it: /etc/cellsh/policy.yaml, then
// /etc/cellsh/policy.d/*.yaml in name order, built against this host; and the
// applied one, the compiled file the helper reads.
import { readFileSync } from 'node:fs';
import { CellshError, ExitCode } from '../errors.js';
import type { Layout } from '../layout.js';
import {
  buildPolicy, parseCompiled, policyFiles, sortDiagnostics, type Built, type CompiledUser, type PolicyEnv, type PolicySource,
} from '../policy/index.js';

/** The installed policy's files, each read from disk unless `replace` gives its text (edit's copy). */
export function installedSources(layout: Layout, replace?: PolicySource): { sources: PolicySource[]; listing: Built['diagnostics'] } {
  const { files, diagnostics } = policyFiles(layout.policyFile, layout.policyDir);
  const sources = files.map((file) => (replace && replace.file === file ? replace : { file }));
  if (replace && !files.includes(replace.file)) sources.push(replace);
  return { sources, listing: diagnostics };
}

/** Build the installed policy (with one file's text replaced, for edit). */
export function buildInstalled(layout: Layout, env: PolicyEnv, replace?: PolicySource): Built {
  const { sources, listing } = installedSources(layout, replace);
  const built = buildPolicy(sources, env);
  return { ...built, diagnostics: sortDiagnostics([...listing, ...built.diagnostics]) };
}

/** The applied (compiled) policy's records, or undefined when nothing was applied yet. */
export function readApplied(layout: Layout): readonly CompiledUser[] | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(layout.compiledPolicy);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CellshError('read-failed', `can't read the applied policy ${layout.compiledPolicy}: ${(err as Error).message}`);
  }
  try {
    return parseCompiled(bytes);
  } catch (err) {
    throw new CellshError('policy-compiled-invalid', `the applied policy ${layout.compiledPolicy} is damaged: ${(err as Error).message}`, {
      hint: 'run "cellsh-admin apply" to write it again', exitCode: ExitCode.config,
    });
  }
}
