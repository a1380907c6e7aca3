// Unpacking one layer: a tar stream (decompressed here, hashed on the way)
// into a new folder of the store, by cellsh-unpack (src/helper/unpack.c), which
// reads the tar confined to that folder and mapped onto the store's ids.
import { spawn } from 'node:child_process';
import { chownSync, mkdirSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CellshError, ExitCode } from '../errors.js';
import { Measure } from './digest.js';
import type { IdRange } from './store-range.js';

/** How a layer's bytes are packed. */
export type Compression = 'none' | 'gzip' | 'zstd';

/** What cellsh-unpack made of a layer. */
export interface Unpacked {
  /** The digest of the uncompressed tar: its DiffID. */
  readonly diffId: string;
  readonly bytes: number;
  readonly entries: number;
  /** What was dropped, one line each ("note: ..."). */
  readonly notes: string[];
}

export interface UnpackOptions {
  /** The cellsh-unpack program. */
  readonly unpacker: string;
  readonly range: IdRange;
  /** The layers below, the nearest first. */
  readonly lowers: readonly string[];
  /** The most bytes the uncompressed tar may have. */
  readonly maxBytes: number;
}

/** The most of the unpacker's output kept. */
const OUTPUT_MAX = 256 * 1024;

/** Make dir, empty and owned by the store's range, as cellsh-unpack wants it. */
export function makeLayerDir(dir: string, range: IdRange): void {
  mkdirSync(dir, { mode: 0o755 });
  chownSync(dir, range.uid, range.gid);
}

/** Unpack the stream into dir (made here). Rejects with the unpacker's own
 * line when it refuses the layer; dir is then the caller's to remove. */
export async function unpackLayer(
  input: Readable,
  compression: Compression,
  dir: string,
  opts: UnpackOptions,
): Promise<Unpacked> {
  if (compression === 'zstd')
    throw new CellshError('zstd', 'this image has zstd-compressed layers, which cellsh cannot read yet', {
      hint: 'convert it to gzip first, e.g. skopeo copy --dest-compress-format gzip',
      exitCode: ExitCode.config,
    });
  makeLayerDir(dir, opts.range);
  const args: string[] = [];
  for (const lower of opts.lowers) args.push('--lower', lower);
  args.push('--max-bytes', String(opts.maxBytes), String(opts.range.uid), String(opts.range.gid), dir);
  const child = spawn(opts.unpacker, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  // What it says is bounded: notes are capped by the unpacker, but trust no one's count.
  let said = 0;
  const keep = (into: Buffer[]) => (b: Buffer) => {
    said += b.length;
    if (said <= OUTPUT_MAX) into.push(b);
  };
  child.stdout.on('data', keep(out));
  child.stderr.on('data', keep(err));
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal ? 9 : 0)));
  });
  const measure = new Measure(opts.maxBytes, 'a layer');
  // The unpacker may stop reading early (it refused the layer): its exit
  // status says why, not the broken pipe.
  child.stdin.on('error', () => undefined);
  const stages = compression === 'gzip' ? [input, createGunzip(), measure, child.stdin] : [input, measure, child.stdin];
  const fed = pipeline(stages as [Readable, ...NodeJS.ReadWriteStream[]]).then(
    () => undefined,
    (e: unknown) => e,
  );
  const [code, feedError] = await Promise.all([exited, fed]);
  const stderr = Buffer.concat(err).toString('utf8').trim();
  if (code === ExitCode.refused)
    throw new CellshError('layer-refused', stderr.replace(/^cellsh-unpack: /, '') || 'the layer was refused', {
      hint: 'the image holds a layer cellsh will not unpack; nothing was imported',
      exitCode: ExitCode.config,
    });
  if (code !== 0) throw new CellshError('unpack-failed', `unpacking a layer failed: ${stderr || `exit ${code}`}`);
  if (feedError instanceof CellshError) throw feedError;
  if (feedError) {
    const e = feedError as NodeJS.ErrnoException;
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_PREMATURE_CLOSE')
      throw new CellshError('layer-unreadable', `a layer could not be read: ${e.message}`, {
        exitCode: ExitCode.config,
      });
  }
  const lines = Buffer.concat(out).toString('utf8').split('\n');
  const done = /^done entries=(\d+) bytes=(\d+)$/.exec(lines.find((l) => l.startsWith('done ')) ?? '');
  if (!done) throw new CellshError('unpack-failed', 'the unpacker did not say it finished');
  return {
    diffId: measure.digest(),
    entries: Number(done[1]),
    bytes: Number(done[2]),
    notes: lines.filter((l) => l.startsWith('note: ')).map((l) => l.slice('note: '.length)),
  };
}
