// The policy module's public surface. Admin verbs and the login path import
// from here, not from the files behind it.
import { compilePolicy } from './compile.js';
import type { CompiledUser } from './compiled.js';
import { sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { loadPolicy, type PolicySource } from './load.js';
import type { Forwarding, Policy, PolicyEnv } from './resolve.js';

export { compilePolicy, type Compiled } from './compile.js';
export { CompiledPolicyError, fnv1a64, type CompiledUser } from './compiled.js';
export { assembleCompiled, formatCompiled, lookupCompiled, parseCompiled, POLICY_MAGIC } from './compiled-file.js';
export {
  countProblems,
  diagnosticJson,
  errorsOf,
  formatDiagnostic,
  plural,
  sortDiagnostics,
  warningsOf,
  type Diagnostic,
  type DiagnosticJson,
  type SourceLoc,
} from './diagnostics.js';
export { shortHostname } from './hostname.js';
export { formatCpu } from './sizes.js';
export { loadPolicy, policyFiles, type Loaded, type PolicySource } from './load.js';
export type { RawPolicy, RawSettings } from './raw.js';
export {
  effectiveFor,
  layersFor,
  type Effective,
  type Forwarding,
  type Limits,
  type Origin,
  type Policy,
  type PolicyEnv,
  type PolicyLayer,
  type Settings,
} from './resolve.js';
export { FIELDS, renderPolicyTable, type SettingKey } from './schema.js';
export { closestWord } from './validators.js';

/** Everything `check` and `apply` need: the resolved policy, the compiled records, all problems. */
export interface Built {
  readonly policy: Policy;
  readonly users: readonly CompiledUser[];
  /** What sshd forwards for each compiled user, by name. */
  readonly forwarding: ReadonlyMap<string, Forwarding>;
  readonly diagnostics: readonly Diagnostic[];
}

/** Load, resolve and compile a policy (its files in layer order) in one go. */
export function buildPolicy(sources: readonly PolicySource[], env: PolicyEnv): Built {
  const loaded = loadPolicy(sources, env);
  const compiled = compilePolicy(loaded.policy, env);
  return {
    policy: loaded.policy,
    users: compiled.users,
    forwarding: compiled.forwarding,
    diagnostics: sortDiagnostics([...loaded.diagnostics, ...compiled.diagnostics]),
  };
}
