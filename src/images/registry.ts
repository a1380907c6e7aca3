// `cellsh-admin image pull`: fetch an image from a registry that speaks the OCI
// distribution API (https://github.com/opencontainers/distribution-spec, spec.md).
// Ping /v2/ and authenticate (registry-http.ts), fetch the manifest (through an
// index, to this host's platform), then the config and each layer the store
// lacks into a BlobSink. Every digest and size is checked here as the bytes
// arrive, whatever the sink also checks; nothing larger than a manifest is held
// in memory. The documents are read with oci.ts, as the importer reads them.
import { pipeline, Readable, type TransformCallback } from 'node:stream';
import { CellshError, ExitCode } from '../errors.js';
import { Measure, sha256 } from './digest.js';
import {
  type Descriptor,
  DOCUMENT_MAX,
  hostPlatform,
  isIndex,
  layerCompression,
  MEDIA,
  parseIndex,
  parseJson,
  parseManifest,
  pickPlatform,
} from './oci.js';
import type { ImageReference } from './reference.js';
import { brokeOff, fail, mismatch, Registry, type RegistryAccess, readBounded, tooLarge } from './registry-http.js';

export { DEFAULT_CA_FILE } from './registry-http.js';
export { hostPlatform };

/** Where blobs go: the image store. */
export interface BlobSink {
  /** True if the store already holds this blob: the pull skips it. */
  has(digest: string): boolean;
  /** Store a blob. The sink checks the digest and size itself and rejects on a mismatch. */
  put(digest: string, size: number, body: NodeJS.ReadableStream): Promise<void>;
}

/** An OCI platform: "linux", "arm64", "v8". */
export type Platform = NonNullable<Descriptor['platform']>;

/** How to pull: where to put the blobs, which platform, and how to reach the registry. */
export interface PullOptions extends RegistryAccess {
  sink: BlobSink;
  /** Which image of an index to take; default this host's (hostPlatform()). */
  platform?: Platform;
  /** Progress, a line at a time. */
  log?: (line: string) => void;
}

/** What a pull gives back; the blobs are in the sink. */
export interface PulledImage {
  reference: ImageReference;
  /** The digest of `manifest`: the image manifest for the platform. */
  manifestDigest: string;
  /** The index's digest, when the reference led to one. */
  indexDigest?: string;
  manifest: Buffer;
  config: Buffer;
}

/** What the Accept of a manifest request offers: an index or a manifest, OCI's or Docker's. */
const ACCEPT = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(', ');
const MANIFEST_TYPES: ReadonlySet<string> = new Set([MEDIA.ociManifest, MEDIA.dockerManifest]);
/** Image configs, by media type (the importer does not check a config's; the pull refuses others). */
const CONFIG_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);
/** Docker's schema 1 manifests, by media type (oci.ts knows them by schemaVersion only). */
const SCHEMA1 = /^application\/vnd\.docker\.distribution\.manifest\.v1\+(prettyjws|json)$/;

/** A fetched manifest or index, its digest checked. */
interface Fetched {
  digest: string;
  bytes: Buffer;
  /** What it is, by its media type or else (an OCI manifest may leave that out) by its fields. */
  kind: 'index' | 'manifest';
  /** Its media type, or the OCI one of its kind if it declared none. */
  mediaType: string;
  json: unknown;
}

/** Pull ref's manifest and config, and put the config and each layer into opts.sink. */
export async function pullImage(ref: ImageReference, opts: PullOptions): Promise<PulledImage> {
  const log = opts.log ?? (() => undefined);
  const reg = new Registry(ref, opts);
  log(`pulling ${ref.text} from ${reg.base.origin}`);
  await reg.ping();
  let fetched = await fetchManifest(reg, ref.digest ?? ref.tag ?? 'latest', ref.digest);
  let indexDigest: string | undefined;
  if (fetched.kind === 'index') {
    indexDigest = fetched.digest;
    const chosen = pickPlatform(parseIndex(fetched.json, `the index of ${ref.text}`), ref.text, opts.platform);
    if (chosen.size > DOCUMENT_MAX) throw tooLarge(ref, 'the manifest', chosen.size);
    log(`index ${indexDigest}: taking ${showPlatform(chosen.platform!)}, ${chosen.digest}`);
    fetched = await fetchManifest(reg, chosen.digest, chosen.digest, chosen.size);
    if (fetched.kind !== 'manifest') throw unsupported(ref, fetched.mediaType, 'inside an index');
  }
  const { config: configDesc, layers } = parseManifest(fetched.json, `the manifest of ${ref.text}`);
  if (!CONFIG_TYPES.has(configDesc.mediaType)) throw unsupported(ref, configDesc.mediaType, 'as its config');
  for (const l of layers) if (!isTarLayer(l.mediaType)) throw unsupported(ref, l.mediaType, 'as a layer');

  // The config is returned as well as stored, so it is always fetched (and bounded first).
  if (configDesc.size > DOCUMENT_MAX) throw tooLarge(ref, 'the config', configDesc.size);
  const configRes = await reg.get(`blobs/${configDesc.digest}`, { kind: 'blob', name: configDesc.digest });
  const config = await readBounded(configRes, configDesc.size, ref, 'the config');
  if (sha256(config) !== configDesc.digest) throw mismatch(ref, 'the config', configDesc.digest, sha256(config));
  if (!opts.sink.has(configDesc.digest)) await opts.sink.put(configDesc.digest, config.length, Readable.from([config]));

  for (const layer of layers) {
    if (opts.sink.has(layer.digest)) {
      log(`layer ${layer.digest}: already in the store`);
      continue;
    }
    log(`layer ${layer.digest}: ${(layer.size / 1e6).toFixed(1)} MB`);
    await pullLayer(reg, layer, opts.sink);
  }
  const pulled = { reference: ref, manifestDigest: fetched.digest, manifest: fetched.bytes, config };
  return indexDigest ? { ...pulled, indexDigest } : pulled;
}

/** Fetch a manifest or index by tag or digest. Its digest must be `pinned` when pulled by
 * digest, else the Docker-Content-Digest the registry sent; its size `size` if known. */
async function fetchManifest(reg: Registry, reference: string, pinned?: string, size?: number): Promise<Fetched> {
  const { ref } = reg;
  const res = await reg.get(`manifests/${reference}`, { kind: 'manifest', name: reference }, ACCEPT);
  const header = res.headers['docker-content-digest'];
  const contentType = (res.headers['content-type'] ?? '').split(';')[0]!.trim();
  const bytes = await readBounded(res, size ?? DOCUMENT_MAX, ref, 'the manifest', size === undefined);
  const digest = sha256(bytes);
  const want = pinned ?? (typeof header === 'string' && header.startsWith('sha256:') ? header : digest);
  if (digest !== want) throw mismatch(ref, `manifest ${reference}`, want, digest);
  const json = parseJson(bytes, `the manifest of ${ref.text}`);
  const fields = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const declared = typeof fields['mediaType'] === 'string' ? fields['mediaType'] : contentType;
  if (fields['schemaVersion'] === 1 || SCHEMA1.test(declared)) {
    throw fail(
      'image-schema1',
      `${ref.text} has a Docker schema 1 manifest, which cellsh does not read`,
      'push the image again with a current docker, podman or skopeo: they write schema 2 or OCI',
      ExitCode.config,
    );
  }
  if (isIndex(json, declared)) return { digest, bytes, json, kind: 'index', mediaType: declared || MEDIA.ociIndex };
  if (MANIFEST_TYPES.has(declared) || (fields['config'] && Array.isArray(fields['layers']))) {
    return { digest, bytes, json, kind: 'manifest', mediaType: declared || MEDIA.ociManifest };
  }
  throw unsupported(ref, declared || 'no media type', 'as its manifest');
}

function showPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** A tar layer as the importer reads it (oci.ts's table; +zstd is the sink's to accept or refuse). */
function isTarLayer(mediaType: string): boolean {
  try {
    layerCompression(mediaType, 'a layer');
    return true;
  } catch {
    // Refused below with the pull's own message, which names the image.
    return false;
  }
}

/** Stream a layer into the sink through a check of its size and digest. */
async function pullLayer(reg: Registry, layer: Descriptor, sink: BlobSink): Promise<void> {
  const what = `layer ${layer.digest}`;
  const res = await reg.get(`blobs/${layer.digest}`, { kind: 'blob', name: layer.digest });
  const length = res.headers['content-length'];
  if (length !== undefined && Number(length) !== layer.size) {
    res.destroy();
    throw mismatch(reg.ref, what, `${layer.size} bytes`, `${length} bytes`);
  }
  const check = new BlobCheck(reg.ref, layer);
  // Our own failure (a wrong digest or size, a broken connection) says more than the sink's.
  let failure: CellshError | undefined;
  check.on('error', (err) => {
    failure ??= err instanceof CellshError ? err : brokeOff(reg.ref, what, err);
  });
  pipeline(res, check, () => undefined);
  try {
    await sink.put(layer.digest, layer.size, check);
  } catch (err) {
    res.destroy();
    throw failure ?? err;
  }
  // A sink that returns before the end has not stored what was checked.
  if (!check.verified) throw failure ?? new Error(`the store returned before the end of ${what}`);
}

/** digest.ts's Measure held to a blob's exact size and digest: the stream fails if the
 * blob runs past its size, or ends short or with another digest. */
class BlobCheck extends Measure {
  verified = false;

  constructor(
    private readonly ref: ImageReference,
    private readonly want: Descriptor,
  ) {
    super(want.size, `layer ${want.digest}`);
  }

  override _transform(chunk: Buffer, enc: BufferEncoding, done: TransformCallback): void {
    // Measure's only failure is running past its max: here that is a mismatch.
    super._transform(chunk, enc, (err, data) => {
      if (err) done(this.wrong(`${this.want.size} bytes`, `more than ${this.want.size} bytes`));
      else done(null, data);
    });
  }

  override _flush(done: TransformCallback): void {
    const got = this.digest();
    if (this.bytes !== this.want.size) done(this.wrong(`${this.want.size} bytes`, `${this.bytes} bytes`));
    else if (got !== this.want.digest) done(this.wrong(this.want.digest, got));
    else {
      this.verified = true;
      done();
    }
  }

  private wrong(want: string, got: string): CellshError {
    return mismatch(this.ref, `layer ${this.want.digest}`, want, got);
  }
}

function unsupported(ref: ImageReference, mediaType: string, as: string): CellshError {
  const why = `${ref.text} has ${mediaType} ${as}, which cellsh does not read`;
  return fail('image-media-type', why, 'cellsh reads OCI and Docker schema 2 images of tar layers', ExitCode.config);
}
