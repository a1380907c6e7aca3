// Writing to a pty master whose fd libuv has made non-blocking: queue the
// bytes and retry on EAGAIN, in order. (tty.WriteStream would switch the fd to
// blocking mode, which the read side shares, so it can't be used here.)
import { write } from 'node:fs';

/** Time to wait before retrying a write the pty could not take yet. */
const EAGAIN_RETRY_MS = 2;

/** An ordered, non-blocking writer for a pty master fd. */
export class PtyWriter {
  private readonly queue: Buffer[] = [];
  private busy = false;
  private closed = false;

  constructor(private readonly fd: number, private readonly onError: (err: NodeJS.ErrnoException) => void) {}

  /** Queue bytes for the terminal. */
  write(data: Buffer): void {
    if (this.closed || data.length === 0) return;
    this.queue.push(data);
    if (!this.busy) this.pump();
  }

  /** Drop whatever is queued and stop writing. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  private pump(): void {
    const head = this.queue[0];
    if (!head || this.closed) {
      this.busy = false;
      return;
    }
    this.busy = true;
    write(this.fd, head, 0, head.length, null, (err, n) => {
      if (this.closed) return;
      if (err && err.code === 'EAGAIN') {
        setTimeout(() => this.pump(), EAGAIN_RETRY_MS);
        return;
      }
      if (err) {
        this.close();
        this.onError(err);
        return;
      }
      if (n < head.length) this.queue[0] = head.subarray(n);
      else this.queue.shift();
      this.pump();
    });
  }
}
