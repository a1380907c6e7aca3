// `cellsh-admin image pull`: an image from a registry, its blobs fetched into
// the store's tmp/ (each checked against its digest as it streams in), then its
// layers unpacked as an import's are. A layer the store already holds over the
// same layers below is not fetched again.
import { createReadStream, createWriteStream, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CellshError, ExitCode } from '../errors.js';
import { chainIds, hexOf, Measure } from './digest.js';
import { nameFromRef, saveImage, unpackLayers, type ImportOptions, type Parsed } from './import.js';
import { layerCompression, parseConfig, parseJson, parseManifest } from './oci.js';
import { parseReference } from './reference.js';
import { pullImage, type BlobSink } from './registry.js';
import type { ImageRecord, ImageStore } from './store.js';

export interface PullCommandOptions extends ImportOptions {
  readonly auth?: { username: string; password: string } | undefined;
  readonly insecure?: boolean | undefined;
  readonly caFile?: string | undefined;
}

/** Blobs into a folder of tmp/, checked; layers the store has are skipped
 * once the config (fetched first) says what they are. */
class StoreSink implements BlobSink {
  private diffIds: string[] = [];

  constructor(
    private readonly store: ImageStore,
    readonly dir: string,
  ) {}

  has(digest: string): boolean {
    // The layer this blob is, if a stored image knows it: the same DiffID at
    // the same place over the same layers below means the same ChainID.
    const chains = chainIds(this.diffIds);
    for (const img of this.store.images())
      for (const l of img.layers) {
        if (l.digest !== digest) continue;
        const at = this.diffIds.indexOf(l.diffId);
        if (at >= 0 && chains[at] === l.chainId && this.store.hasLayer(l.chainId)) return true;
      }
    return false;
  }

  async put(digest: string, size: number, body: NodeJS.ReadableStream): Promise<void> {
    const measure = new Measure(size, `the blob ${digest}`);
    const file = join(this.dir, hexOf(digest));
    await pipeline(body, measure, createWriteStream(file, { mode: 0o600 }));
    if (measure.digest() !== digest || measure.bytes !== size)
      throw new CellshError('digest-mismatch', `the registry sent a blob that is not ${digest}`, {
        hint: 'the registry or something between is damaging data; nothing was imported',
        exitCode: ExitCode.config,
      });
    this.noteConfig(file);
  }

  /** A config's DiffIDs, once it is here (a layer blob is not JSON and is passed over). */
  private noteConfig(file: string): void {
    if (this.diffIds.length > 0) return;
    try {
      const text = readFileSync(file);
      if (text.length > 4 << 20 || text[0] !== 0x7b) return;
      this.diffIds = parseConfig(parseJson(text, 'the config'), 'the config').diffIds;
    } catch {
      // not a config
    }
  }
}

/** Pull ref into the store under a name; returns its record. */
export async function pullToStore(refText: string, opts: PullCommandOptions): Promise<ImageRecord> {
  const ref = parseReference(refText);
  const name = opts.name ?? nameFromRef(`${ref.repository}${ref.tag ? `:${ref.tag}` : ''}`);
  if (!name)
    throw new CellshError('no-name', `no image name can be made from ${refText}`, {
      hint: 'name it with --name NAME',
      exitCode: ExitCode.usage,
    });
  const sink = new StoreSink(opts.store, opts.store.tempPath('pull'));
  mkdirSync(sink.dir, { mode: 0o700 });
  try {
    const pulled = await pullImage(ref, {
      sink,
      ...(opts.auth ? { auth: opts.auth } : {}),
      ...(opts.insecure ? { insecure: true } : {}),
      ...(opts.caFile ? { caFile: opts.caFile } : {}),
      log: opts.say,
    });
    const manifest = parseManifest(parseJson(pulled.manifest, 'the manifest'), 'the manifest');
    const { config, diffIds } = parseConfig(parseJson(pulled.config, 'the config'), 'the config');
    const parsed: Parsed = {
      format: 'registry',
      manifestDigest: pulled.manifestDigest,
      configDigest: manifest.config.digest,
      config,
      diffIds,
      layers: manifest.layers.map((l, i) => ({
        open: () => createReadStream(join(sink.dir, hexOf(l.digest))),
        compression: layerCompression(l.mediaType, `layer ${i + 1}`),
        digest: l.digest,
        mediaType: l.mediaType,
      })),
    };
    opts.say(`${ref.text}: ${parsed.layers.length} layers`);
    const layers = await unpackLayers(parsed, opts);
    return saveImage(opts.store, parsed, layers, name, ref.text);
  } finally {
    rmSync(sink.dir, { recursive: true, force: true });
  }
}
