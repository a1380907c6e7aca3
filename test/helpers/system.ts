// Running real commands from tests: argv arrays, captured bytes, exit status.
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** The outcome of a finished command. */
export interface Result {
  readonly status: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly out: string;
  readonly err: string;
}

/** Run a command to completion (synchronously); never throws on a non-zero exit. */
export function run(
  file: string,
  args: readonly string[] = [],
  opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Result {
  const r = spawnSync(file, args, {
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    cwd: opts.cwd ?? '/',
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: 512 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  const status = r.status ?? 128 + signalNumber(r.signal);
  const stdout = r.stdout ?? Buffer.alloc(0);
  const stderr = r.stderr ?? Buffer.alloc(0);
  return { status, stdout, stderr, out: stdout.toString(), err: stderr.toString() };
}

/** Run a command and fail the test with its output if it does not exit 0. */
export function must(file: string, args: readonly string[] = [], opts: Parameters<typeof run>[2] = {}): Result {
  const r = run(file, args, opts);
  if (r.status !== 0) {
    throw new Error(
      `${file} ${args.join(' ')} exited ${r.status}\nstdout: ${r.out.slice(-2000)}\nstderr: ${r.err.slice(-2000)}`,
    );
  }
  return r;
}

/** Run a command asynchronously and collect everything it writes. */
export function runAsync(
  file: string,
  args: readonly string[],
  opts: SpawnOptions & { input?: Buffer | string } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: '/', ...opts, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err);
      resolve({
        status: code ?? 128 + signalNumber(signal),
        stdout,
        stderr,
        out: stdout.toString(),
        err: stderr.toString(),
      });
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(opts.input ?? '');
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const table: Record<string, number> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return signal ? (table[signal] ?? 0) : 0;
}

/** Wait until check() returns a truthy value, or fail after timeoutMs. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True once a process has exited: no /proc entry, or a zombie not yet reaped. */
export function processGone(pid: number | string): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** Set a sysctl file to value for the rest of the test, back as it was after it;
 * why it can't be set here, or false. */
export function setSysctl(t: { after(fn: () => void): void }, path: string, value: string): string | false {
  const cannot = sysctlUnwritable(path);
  if (cannot) return cannot;
  const before = readFileSync(path, 'utf8').trim();
  writeFileSync(path, value);
  t.after(() => writeFileSync(path, before));
  return false;
}

/** Why this process can't set the sysctl at path, or false when it can. It writes
 * back the value it reads, so nothing changes. In a container /proc/sys is
 * usually mounted read-only (EROFS); outside the namespace's owner, EPERM. */
export function sysctlUnwritable(path: string): string | false {
  let value: string;
  try {
    value = readFileSync(path, 'utf8');
  } catch (err) {
    return `${path} can't be read here (${(err as NodeJS.ErrnoException).code})`;
  }
  try {
    writeFileSync(path, value);
    return false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return `${path} can't be written here (${code === 'EROFS' ? 'EROFS: /proc/sys is mounted read-only, as in a container' : code})`;
  }
}
