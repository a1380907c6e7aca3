// Writing to a pty master the relay has made non-blocking: write at once (a
// keystroke goes straight in, no thread pool round trip), queue what the pty
// can't take yet and retry on EAGAIN, in order. (tty.WriteStream would switch
// the fd to blocking mode, which the read side shares, so it can't be used here.)
import { writeSync } from 'node:fs';

/** Time to wait before retrying a write the pty could not take yet. */
const EAGAIN_RETRY_MS = 2;

/** An ordered, non-blocking writer for a pty master fd. */
export class PtyWriter {
  private readonly queue: Buffer[] = [];
  private busy = false;
  private closed = false;
  /** A write returned false: call onDrain once the queue is empty. */
  private held = false;

  constructor(
    private readonly fd: number,
    private readonly onError: (err: NodeJS.ErrnoException) => void,
    private readonly onDrain: () => void = () => undefined,
  ) {}

  /** Queue bytes for the terminal; false if some wait for the program to read
   * (as a stream's write: stop giving more until onDrain is called). */
  write(data: Buffer): boolean {
    if (this.closed || data.length === 0) return true;
    this.queue.push(data);
    if (!this.busy) this.pump();
    if (this.queue.length === 0) return true;
    this.held = true;
    return false;
  }

  /** Drop whatever is queued and stop writing. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  private pump(): void {
    this.busy = true;
    while (!this.closed && this.queue.length > 0) {
      const head = this.queue[0]!;
      let n: number;
      try {
        n = writeSync(this.fd, head, 0, head.length, null);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.pump(), EAGAIN_RETRY_MS);
          return;
        }
        this.close();
        this.onError(err);
        return;
      }
      if (n < head.length) this.queue[0] = head.subarray(n);
      else this.queue.shift();
    }
    this.busy = false;
    if (this.held && !this.closed) {
      this.held = false;
      this.onDrain();
    }
  }
}
