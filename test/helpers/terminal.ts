// A terminal driven the way a person uses one: node-pty is the outer terminal
// (sshd's pty, or the one su runs in), the test types into it and reads the screen.
import * as pty from 'node-pty';

/** How long expect() waits by default. */
const EXPECT_TIMEOUT_MS = 15_000;
/** Delay between keystrokes when typing. */
const KEY_DELAY_MS = 2;

/** A program running on a real pty. */
export class Terminal {
  private readonly term: pty.IPty;
  private buffer = '';
  private cursor = 0;
  readonly exited: Promise<{ exitCode: number; signal?: number | undefined }>;

  private constructor(file: string, args: string[], opts: { cols?: number; rows?: number; env?: NodeJS.ProcessEnv }) {
    this.term = pty.spawn(file, args, {
      name: 'xterm-256color',
      cols: opts.cols ?? 100,
      rows: opts.rows ?? 30,
      cwd: '/',
      env: (opts.env ?? { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TERM: 'xterm-256color', LANG: 'C.UTF-8' }) as Record<
        string,
        string
      >,
    });
    this.term.onData((d) => {
      this.buffer += d;
    });
    this.exited = new Promise((resolve) => this.term.onExit(resolve));
  }

  /** Start a program on a new pty. */
  static spawn(
    file: string,
    args: string[] = [],
    opts: { cols?: number; rows?: number; env?: NodeJS.ProcessEnv } = {},
  ): Terminal {
    return new Terminal(file, args, opts);
  }

  /** Everything the program has written so far. */
  get output(): string {
    return this.buffer;
  }

  /** The pid of the program on the pty (e.g. su). */
  get pid(): number {
    return this.term.pid;
  }

  /** Wait until pattern appears after the last match; returns the match. */
  async expect(pattern: RegExp | string, timeoutMs = EXPECT_TIMEOUT_MS): Promise<RegExpExecArray> {
    const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rest = this.buffer.slice(this.cursor);
      const m = re.exec(rest);
      if (m) {
        this.cursor += m.index + m[0].length;
        return m;
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${re} in terminal output:\n${JSON.stringify(rest.slice(-1500))}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Type text key by key, as a person would. */
  async type(text: string): Promise<void> {
    for (const ch of text) {
      this.term.write(ch);
      await new Promise((r) => setTimeout(r, KEY_DELAY_MS));
    }
  }

  /** Send bytes at once (control keys, pastes). */
  send(data: string): void {
    this.term.write(data);
  }

  /** Change the window size, as a terminal emulator does when its window is resized. */
  resize(cols: number, rows: number): void {
    this.term.resize(cols, rows);
  }

  /** End the program if it still runs. */
  kill(): void {
    try {
      this.term.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
