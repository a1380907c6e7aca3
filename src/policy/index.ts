// The policy module's public surface. Admin verbs and the login path import
// from here, not from the files behind it.
import { compilePolicy } from './compile.js';
import type { CompiledUser } from './compiled.js';
import { sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { loadPolicy, loadPolicyText } from './load.js';
import type { Policy, PolicyEnv } from './resolve.js';

export { compilePolicy, type Compiled } from './compile.js';
export { CompiledPolicyError, formatCompiled, fnv1a64, parseCompiled, POLICY_MAGIC, type CompiledUser } from './compiled.js';
export {
  countProblems, diagnosticJson, errorsOf, formatDiagnostic, plural, sortDiagnostics, warningsOf,
  type Diagnostic, type DiagnosticJson, type SourceLoc,
} from './diagnostics.js';
export { shortHostname } from './hostname.js';
export { formatCpu } from './sizes.js';
export { loadPolicy, loadPolicyText, type Loaded } from './load.js';
export type { RawPolicy, RawSettings } from './raw.js';
export { effectiveFor, type Effective, type Limits, type Origin, type Policy, type PolicyEnv, type Settings } from './resolve.js';
export { FIELDS, renderPolicyTable, type SettingKey } from './schema.js';
export { closestWord } from './validators.js';

/** Everything `check` and `apply` need: the resolved policy, the compiled records, all problems. */
export interface Built {
  readonly policy: Policy;
  readonly users: readonly CompiledUser[];
  readonly diagnostics: readonly Diagnostic[];
}

/** Load, resolve and compile a policy file (or text, when given) in one go. */
export function buildPolicy(file: string, env: PolicyEnv, text?: string): Built {
  const loaded = text === undefined ? loadPolicy(file, env) : loadPolicyText(text, file, env);
  const compiled = compilePolicy(loaded.policy, env);
  return { policy: loaded.policy, users: compiled.users, diagnostics: sortDiagnostics([...loaded.diagnostics, ...compiled.diagnostics]) };
}
