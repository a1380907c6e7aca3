// `cellsh-admin reset USER`: discard what a user wrote outside their home. The
// container is stopped first (its writable layer is mounted in it); a
// persistent layer's file (layerDir/UID.ext4, src/helper/layer.h) is then
// deleted, so the next login starts from the image as it is. The home is never
// touched.
import { lstatSync, readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CellshError, ExitCode } from '../errors.js';
import type { Layout } from '../layout.js';
import { logEvent, type EventLogger } from '../log.js';
import type { UserDirectory } from '../sys/users.js';
import type { TextOut } from './check.js';
import { humanBytes, runningContainers } from './ps.js';

export interface ResetOptions {
  readonly layout: Layout;
  readonly dir: UserDirectory;
  readonly log: EventLogger;
  readonly out: TextOut;
  readonly byUid: number;
  /** --yes: no question asked. */
  readonly yes: boolean;
  /** Ask the admin (y/N); undefined where no one can answer (no terminal). */
  readonly confirm: ((question: string) => boolean) | undefined;
  /** Stop the user's container, telling its sessions why. */
  readonly stop: (uid: number, notice: string) => void;
}

export const RESET_NOTICE = 'your container was reset by the administrator: what you wrote outside your home is gone';

/** The bytes a regular file takes on disk, or undefined if there is none. */
function onDisk(path: string): number | undefined {
  try {
    const st = lstatSync(path);
    return st.isFile() ? st.blocks * 512 : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function runReset(name: string, opts: ResetOptions): number {
  const user = opts.dir.user(name);
  if (!user) throw new CellshError('no-such-user', `no user "${name}" on this host`, { exitCode: ExitCode.usage });
  const file = join(opts.layout.layerDir, `${user.uid}.ext4`);
  const bytes = onDisk(file);
  const running = runningContainers(opts.layout.stateDir).some((r) => r.uid === user.uid);
  if (bytes === undefined && !running) {
    opts.out.write(`${name} has no container running and no writable layer kept: nothing to reset\n`);
    return ExitCode.ok;
  }
  const what = [
    running ? `stop the container of ${name}` : undefined,
    bytes === undefined ? undefined : `delete their writable layer (${humanBytes(bytes)} on disk)`,
  ]
    .filter((x) => x)
    .join(' and ');
  if (!opts.yes) {
    if (!opts.confirm)
      throw new CellshError('reset-unconfirmed', `reset would ${what}; nothing was changed`, {
        hint: 'confirm with --yes',
        exitCode: ExitCode.usage,
      });
    if (!opts.confirm(`${what[0]!.toUpperCase()}${what.slice(1)}? Their home stays as it is. [y/N] `)) {
      opts.out.write('nothing was changed\n');
      return ExitCode.ok;
    }
  }
  // The name goes first: a login from here on makes a new layer, and the stop
  // ends whatever container a login raced in meanwhile.
  const aside = `${file}.reset`;
  if (bytes !== undefined) renameSync(file, aside);
  opts.stop(user.uid, RESET_NOTICE);
  if (bytes !== undefined) {
    unlinkSync(aside);
    try {
      unlinkSync(`${file}.new`);
    } catch {
      // none: only a start cut short leaves one
    }
    logEvent(opts.log, 'layer-reset', { user: name, uid: user.uid, bytes, by_uid: opts.byUid });
  }
  opts.out.write(`reset ${name}: ${what.replace(/^stop /, 'stopped ').replace(/delete /, 'deleted ')}\n`);
  // A login that had opened the old layer before it was renamed, and mounted
  // it after the stop, keeps it until its container ends.
  if (bytes !== undefined && loopBackingFiles().some((f) => f.startsWith(aside)))
    opts.out.write(`a login of ${name} during the reset still holds the old layer: run the reset again\n`);
  return ExitCode.ok;
}

/** The files loop devices are bound to now (a deleted one ends in " (deleted)"). */
function loopBackingFiles(): string[] {
  try {
    return readdirSync('/sys/block')
      .filter((d) => /^loop\d+$/.test(d))
      .flatMap((d) => {
        try {
          return [readFileSync(`/sys/block/${d}/loop/backing_file`, 'utf8').trim()];
        } catch {
          return [];
        }
      });
  } catch {
    return [];
  }
}
