// Content digests as OCI writes them ("sha256:<64 hex>"), and the streams that
// compute them while bytes pass through on their way somewhere else.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { CellshError, ExitCode } from '../errors.js';

const SHA256 = /^sha256:[0-9a-f]{64}$/;

/** digest if it is a sha256 digest, else a data error naming what it belongs to. */
export function checkDigest(digest: unknown, what: string): string {
  if (typeof digest === 'string' && SHA256.test(digest)) return digest;
  throw new CellshError('bad-digest', `${what} has no valid sha256 digest (${String(digest).slice(0, 80)})`, {
    hint: 'only sha256 digests are supported',
    exitCode: ExitCode.config,
  });
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The hex part of a digest: the name its blob or layer has in the store. */
export function hexOf(digest: string): string {
  return digest.slice('sha256:'.length);
}

/** Each layer's ChainID: the first is its DiffID, each next the digest of "below above". */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const id of diffIds) out.push(out.length === 0 ? id : sha256(`${out[out.length - 1]} ${id}`));
  return out;
}

/** A pass-through stream that hashes and counts what crosses it, failing
 * once more than `max` bytes have (a decompression bomb ends there). */
export class Measure extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  constructor(
    private readonly max: number,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.max) {
      done(
        new CellshError('too-large', `${this.what} is larger than ${this.max} bytes`, {
          hint: 'raise the limit with --max-size if the image is meant to be this large',
          exitCode: ExitCode.config,
        }),
      );
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  /** The digest of everything that crossed (call once, after the end). */
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}
