// One error type for everything a person may see: a stable code, a message that
// says what happened, a hint that says what to do, and the exit code to use.
import { EXIT_CODES } from './contract/index.js';

/** Exit codes shared with the helper (the contract's), sysexits style. */
export const ExitCode = EXIT_CODES;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure with a stable code, shown to a person as one or two plain lines. */
export class CellshError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(code: string, message: string, opts: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CellshError';
    this.code = code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? ExitCode.failure;
  }
}

/** The lines to print for an error: the message, then the hint if any. Never a stack. */
export function describeError(prog: string, err: unknown): string {
  if (err instanceof CellshError) {
    return `${prog}: ${err.message}\n` + (err.hint ? `${prog}: ${err.hint}\n` : '');
  }
  const message = err instanceof Error ? err.message : String(err);
  return `${prog}: internal error: ${message}\n${prog}: please report this with the command you ran\n`;
}

/** The exit code to use for an error. */
export function exitCodeOf(err: unknown): number {
  return err instanceof CellshError ? err.exitCode : ExitCode.internal;
}
