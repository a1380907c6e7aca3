// `cellsh-admin image ...`: the image store's commands. import and pull bring
// an image in, ls / inspect show what is there, rm and gc take it away.
import { CellshError, ExitCode } from '../errors.js';
import type { ImportOptions } from '../images/import.js';
import { hexOf } from '../images/digest.js';
import { checkImageName, type ImageRecord, type ImageStore } from '../images/store.js';
import type { IdRange } from '../images/store-range.js';
import type { TextOut } from './check.js';
import { escapeUnsafe, prettySafeJson } from './log-text.js';

/** What every image command needs. */
export interface ImageCommandOptions {
  readonly store: ImageStore;
  readonly out: TextOut;
  readonly err: TextOut;
  /** Users whose applied or installed policy names an image, by image name. */
  readonly users?: () => Map<string, string[]>;
  /** The layer lists (refs) the applied policy names: kept by gc whatever the names say now. */
  readonly appliedRefs?: () => Set<string>;
}

/** A byte count as people read it. */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

function shortDigest(d: string | undefined): string {
  return d ? `${hexOf(d).slice(0, 12)}` : '-';
}

/** An image's size on disk: its layers' unpacked bytes. */
function sizeOf(store: ImageStore, img: ImageRecord): number {
  return img.layers.reduce((sum, l) => sum + (store.layerInfo(l.chainId)?.bytes ?? 0), 0);
}

/** Up to three names, then how many more; "-" for none. */
function shortList(names: readonly string[]): string {
  if (names.length === 0) return '-';
  return names.length <= 3 ? names.join(',') : `${names.slice(0, 3).join(',')},+${names.length - 3}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function runImageList(opts: ImageCommandOptions & { json: boolean }): number {
  const images = opts.store.images();
  const users = opts.users?.() ?? new Map<string, string[]>();
  if (opts.json) {
    opts.out.write(
      `${prettySafeJson(
        images.map((img) => ({
          name: img.name,
          digest: img.manifestDigest ?? img.configDigest,
          size: sizeOf(opts.store, img),
          layers: img.layers.length,
          format: img.format,
          source: img.source,
          imported: img.imported,
          users: users.get(img.name) ?? [],
        })),
      )}\n`,
    );
    return ExitCode.ok;
  }
  if (images.length === 0) {
    opts.out.write('no images: bring one in with "cellsh-admin image import" or "image pull"\n');
    return ExitCode.ok;
  }
  const rows = [['NAME', 'DIGEST', 'SIZE', 'LAYERS', 'IMPORTED', 'USERS', 'FROM']];
  for (const img of images)
    rows.push([
      img.name,
      shortDigest(img.manifestDigest ?? img.configDigest),
      humanBytes(sizeOf(opts.store, img)),
      String(img.layers.length),
      img.imported.slice(0, 16).replace('T', ' '),
      shortList(users.get(img.name) ?? []),
      img.source,
    ]);
  opts.out.write(table(rows));
  return ExitCode.ok;
}

function mustFind(store: ImageStore, name: string): ImageRecord {
  const img = store.image(checkImageName(name));
  if (!img)
    throw new CellshError('no-such-image', `no image "${name}" in the store`, {
      hint: 'see "cellsh-admin image ls"',
      exitCode: ExitCode.usage,
    });
  return img;
}

export function runImageInspect(opts: ImageCommandOptions & { name: string }): number {
  const img = mustFind(opts.store, opts.name);
  const layers = img.layers.map((l) => ({ ...l, ...(opts.store.layerInfo(l.chainId) ?? {}) }));
  opts.out.write(`${prettySafeJson({ ...img, size: sizeOf(opts.store, img), layers })}\n`);
  return ExitCode.ok;
}

/** Remove an image's record, then the layers no other image uses. */
export function runImageRemove(opts: ImageCommandOptions & { name: string }): number {
  opts.store.open();
  const release = opts.store.lock();
  try {
    const img = mustFind(opts.store, opts.name);
    const users = opts.users?.().get(img.name) ?? [];
    if (users.length > 0)
      throw new CellshError(
        'image-in-use',
        `the policy gives ${img.name} to ${users.slice(0, 5).join(', ')}${users.length > 5 ? ` and ${users.length - 5} more` : ''}`,
        { hint: 'give them another image in the policy and apply it first', exitCode: ExitCode.refused },
      );
    opts.store.removeImage(img.name);
    const freed = opts.store.collect(opts.appliedRefs?.());
    opts.out.write(`removed ${img.name}; freed ${freed.layers} layers (${humanBytes(freed.bytes)})\n`);
  } finally {
    release();
  }
  return ExitCode.ok;
}

export function runImageGc(opts: ImageCommandOptions): number {
  opts.store.open();
  const release = opts.store.lock();
  try {
    const freed = opts.store.collect(opts.appliedRefs?.());
    opts.out.write(`freed ${freed.layers} layers no image uses (${humanBytes(freed.bytes)})\n`);
  } finally {
    release();
  }
  return ExitCode.ok;
}

/** Bring an image in (import or pull) with the store locked; says what it did, line by line. */
export async function runImageImport(
  opts: ImageCommandOptions & {
    range: () => IdRange;
    unpacker: string;
    maxBytes: number;
    name?: string | undefined;
    ref?: string | undefined;
    /** importImage or pullToStore, with the source bound. */
    bring: (o: ImportOptions) => Promise<ImageRecord>;
  },
): Promise<number> {
  if (opts.name !== undefined) checkImageName(opts.name);
  opts.store.open();
  const release = opts.store.lock();
  try {
    const before = opts.name ? opts.store.image(opts.name) : undefined;
    const img = await opts.bring({
      store: opts.store,
      range: opts.range(),
      unpacker: opts.unpacker,
      maxBytes: opts.maxBytes,
      name: opts.name,
      ref: opts.ref,
      say: (line) => opts.out.write(`${escapeUnsafe(line)}\n`),
    });
    const digest = img.manifestDigest ?? img.configDigest;
    const old = before ? (before.manifestDigest ?? before.configDigest) : undefined;
    opts.out.write(
      `imported ${img.name} (${shortDigest(digest)}, ${img.layers.length} layers, ${humanBytes(sizeOf(opts.store, img))})` +
        (old && old !== digest ? `; it replaces ${shortDigest(old)} ("image gc" frees what only that used)` : '') +
        '\n',
    );
  } finally {
    release();
  }
  return ExitCode.ok;
}
