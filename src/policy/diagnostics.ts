// Policy problems with their place in the file. Every stage (YAML syntax,
// schema, accounts, compilation) adds to one list so an admin sees all of
// them at once, each as `file:line:col: dotted.path: message`.

/** A place in a policy file; line and col are 1-based. */
export interface SourceLoc {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** One problem. `at` is absent for problems that no line of the file caused
 * (an unreadable file, an enrolled user whose account cellsh cannot serve). */
export interface Diagnostic {
  readonly severity: 'error' | 'warning';
  readonly file: string;
  readonly at: SourceLoc | undefined;
  /** Where in the policy: dotted key path ("users.alice.limits.memory"), or "" for the whole file. */
  readonly path: string;
  readonly message: string;
}

/** The shape `check --json` prints for one problem. */
export interface DiagnosticJson {
  file: string;
  line: number | null;
  col: number | null;
  path: string;
  message: string;
}

/** Collects problems in the order they are found, each once (a default that
 * is wrong for every user it reaches is one problem at one place). */
export class Diagnostics {
  readonly list: Diagnostic[] = [];
  private readonly seen = new Set<string>();

  /** Record an error at a place (or for the whole file when at is undefined). */
  error(file: string, at: SourceLoc | undefined, path: string, message: string): void {
    this.add({ severity: 'error', file, at, path, message });
  }

  /** Record a warning: reported, but the policy may still be applied. */
  warning(file: string, at: SourceLoc | undefined, path: string, message: string): void {
    this.add({ severity: 'warning', file, at, path, message });
  }

  /** Append problems found by another stage. */
  addAll(more: readonly Diagnostic[]): void {
    for (const d of more) this.add(d);
  }

  private add(d: Diagnostic): void {
    const key = JSON.stringify([d.severity, d.file, d.at?.line, d.at?.col, d.path, d.message]);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.list.push(d);
  }
}

/** The errors of a list, in order. */
export function errorsOf(list: readonly Diagnostic[]): Diagnostic[] {
  return list.filter((d) => d.severity === 'error');
}

/** The warnings of a list, in order. */
export function warningsOf(list: readonly Diagnostic[]): Diagnostic[] {
  return list.filter((d) => d.severity === 'warning');
}

/** One line for a person: `file:line:col: path: message` (warnings say so). */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.at ? `${d.at.file}:${d.at.line}:${d.at.col}` : d.file;
  const path = d.path ? `${d.path}: ` : '';
  const kind = d.severity === 'warning' ? 'warning: ' : '';
  return `${where}: ${kind}${path}${d.message}`;
}

/** The JSON form of one problem. */
export function diagnosticJson(d: Diagnostic): DiagnosticJson {
  return {
    file: d.at?.file ?? d.file,
    line: d.at?.line ?? null,
    col: d.at?.col ?? null,
    path: d.path,
    message: d.message,
  };
}

/** Problems in reading order: by file, line and column; whole-file problems last. Stable. */
export function sortDiagnostics(list: readonly Diagnostic[]): Diagnostic[] {
  const key = (d: Diagnostic): [string, number, number] => [
    d.at?.file ?? d.file,
    d.at?.line ?? Number.MAX_SAFE_INTEGER,
    d.at?.col ?? 0,
  ];
  return [...list].sort((a, b) => {
    const [fa, la, ca] = key(a);
    const [fb, lb, cb] = key(b);
    return fa < fb ? -1 : fa > fb ? 1 : la - lb || ca - cb;
  });
}

/** "2 errors, 1 warning" style counts; "" when there are none. */
export function countProblems(list: readonly Diagnostic[]): string {
  const parts: string[] = [];
  const errors = errorsOf(list).length;
  const warnings = warningsOf(list).length;
  if (errors > 0) parts.push(plural(errors, 'error'));
  if (warnings > 0) parts.push(plural(warnings, 'warning'));
  return parts.join(', ');
}

/** "1 user", "3 users". */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** A dotted path from key names: ["users", "alice", "shell"] -> "users.alice.shell". */
export function dotted(path: readonly string[]): string {
  return path.join('.');
}
