// A pseudo-terminal in this process, both ends as raw fds: node-pty's openpty(3)
// binding (exported as "native"; its typings leave it out). Both ends are
// non-blocking, as node-pty leaves them.
import type { TestContext } from 'node:test';
import { closeSync, readSync } from 'node:fs';
import * as nodePty from 'node-pty';

interface NativePty {
  open(cols: number, rows: number): { master: number; slave: number; pty: string };
}

/** The two ends of a pty and the slave's path; the test closes what it has not given away. */
export interface PtyPair {
  readonly master: number;
  readonly slave: number;
  readonly path: string;
  /** The end is someone else's to close now (a relay closes its master). */
  giveAway(end: 'master' | 'slave'): void;
  /** Close an end now. */
  close(end: 'master' | 'slave'): void;
}

/** A new pty of cols x rows, its ends closed after the test unless given away. */
export function ptyPair(t: TestContext, cols = 80, rows = 24): PtyPair {
  const { master, slave, pty } = (nodePty as unknown as { native: NativePty }).native.open(cols, rows);
  const open = { master: true, slave: true };
  const fds = { master, slave };
  const pair: PtyPair = {
    master,
    slave,
    path: pty,
    giveAway: (end) => {
      open[end] = false;
    },
    close: (end) => {
      if (!open[end]) return;
      open[end] = false;
      closeSync(fds[end]);
    },
  };
  t.after(() => {
    pair.close('slave');
    pair.close('master');
  });
  return pair;
}

/** Everything read from a non-blocking fd until nothing more comes for quietMs (or 10 s pass). */
export async function readUntilQuiet(fd: number, quietMs: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  let last = Date.now();
  for (const deadline = Date.now() + 10_000; Date.now() - last < quietMs && Date.now() < deadline; ) {
    let n = 0;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
    if (n > 0) {
      chunks.push(Buffer.from(buf.subarray(0, n)));
      last = Date.now();
    } else {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
  return Buffer.concat(chunks);
}
