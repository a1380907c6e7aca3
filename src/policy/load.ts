// The one entry point from a policy file to a resolved Policy: read, parse the
// YAML keeping positions, check against the schema, resolve against the host's
// accounts. Every problem of every stage comes back together.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { Diagnostics, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { resolvePolicy, type Policy, type PolicyEnv } from './resolve.js';
import { locOf, validateDocument } from './validate.js';
import type { RawPolicy } from './raw.js';

/** A resolved policy and every problem found on the way. The policy is a best
 * effort when there are errors (invalid values fall back to the layer below):
 * use it to report more problems, never to apply. */
export interface Loaded {
  readonly policy: Policy;
  readonly diagnostics: readonly Diagnostic[];
}

/** Parse and check one file's text into a RawPolicy (no accounts needed). Schema
 * problems on a line that has a YAML syntax error are left out: they are echoes
 * of the syntax error (a tab-indented key looks like an unknown top-level key). */
export function parseRawPolicy(text: string, file: string, diags: Diagnostics): RawPolicy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const firstLine = (m: string): string => m.split('\n')[0]!;
  const brokenLines = new Set<number>();
  for (const e of doc.errors) {
    const at = locOf({ file, lines }, e.pos[0]);
    brokenLines.add(at.line);
    diags.error(file, at, '', `invalid YAML: ${firstLine(e.message)}`);
  }
  for (const e of doc.warnings) diags.warning(file, locOf({ file, lines }, e.pos[0]), '', `YAML: ${firstLine(e.message)}`);
  const schema = new Diagnostics();
  const raw = validateDocument(file, doc, lines, schema);
  diags.addAll(schema.list.filter((d) => !d.at || !brokenLines.has(d.at.line)));
  return raw;
}

/** Load, check and resolve a policy given as text (file names it in messages). */
export function loadPolicyText(text: string, file: string, env: PolicyEnv): Loaded {
  const diags = new Diagnostics();
  const raw = parseRawPolicy(text, file, diags);
  const policy = resolvePolicy([raw], env, diags);
  return { policy, diagnostics: sortDiagnostics(diags.list) };
}

/** Load, check and resolve the policy file. An unreadable file is one error. */
export function loadPolicy(file: string, env: PolicyEnv): Loaded {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const diags = new Diagnostics();
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    diags.error(file, undefined, '', `can't read the policy: ${reason}`);
    return { policy: resolvePolicy([], env, diags), diagnostics: diags.list };
  }
  return loadPolicyText(text, file, env);
}
