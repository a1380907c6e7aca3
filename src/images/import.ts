// `cellsh-admin image import`: an image from a file or a folder, in any of
// the forms images travel in:
//   - an OCI image layout (a folder, or its tar: skopeo's oci:, podman's oci-archive);
//   - docker save's archive (a tar with manifest.json, or that tar unpacked);
//   - a plain root file system (a tar, gzipped or not, or a folder).
// A tar is first unpacked by cellsh-unpack into the store's tmp/, confined and
// mapped like any layer, and read from there. Every blob is checked against its
// digest and every layer against its DiffID before the layer is kept.
import { spawn } from 'node:child_process';
import { createReadStream, lstatSync, renameSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { CellshError, ExitCode } from '../errors.js';
import { chainIds, checkDigest, hexOf, Measure, sha256 } from './digest.js';
import {
  hostPlatform,
  isIndex,
  layerCompression,
  parseConfig,
  parseDockerManifest,
  parseIndex,
  parseJson,
  parseManifest,
  pickPlatform,
  type Descriptor,
} from './oci.js';
import { checkImageName, type ImageConfig, type ImageRecord, type ImageStore, type LayerRef } from './store.js';
import type { IdRange } from './store-range.js';
import { unpackLayer, type Compression } from './unpack.js';
import { closeQuietly, openSource, readInside, sniffFd, sniffInside, streamInside } from './source.js';

export interface ImportOptions {
  readonly store: ImageStore;
  readonly range: IdRange;
  readonly unpacker: string;
  /** The most bytes an archive or a layer may unpack to. */
  readonly maxBytes: number;
  /** The name to give the image (else one is made from the source). */
  readonly name?: string | undefined;
  /** Which image of a layout or archive holding several (its ref name or repo tag). */
  readonly ref?: string | undefined;
  readonly say: (line: string) => void;
}

/** A layer to unpack: where its bytes come from and what they must hash to. */
export interface LayerSource {
  open(): Readable;
  readonly compression: Compression;
  /** The blob's digest, checked on the bytes as read (none for docker save's plain tars). */
  readonly digest?: string;
  readonly mediaType?: string;
}

/** What a source holds before its layers are unpacked. */
export interface Parsed {
  readonly format: ImageRecord['format'];
  readonly manifestDigest?: string;
  readonly configDigest: string;
  readonly config: ImageConfig;
  readonly diffIds: string[];
  readonly layers: LayerSource[];
  /** A name the source suggests (a docker repo tag). */
  readonly suggested?: string;
}

function bad(what: string, why: string): CellshError {
  return new CellshError('bad-image', `${what}: ${why}`, { exitCode: ExitCode.config });
}

/** A blob of an OCI layout, read whole and checked against its digest. */
function readBlob(root: string, d: Descriptor, what: string): Buffer {
  const bytes = readInside(root, `blobs/sha256/${hexOf(d.digest)}`);
  if (sha256(bytes) !== d.digest) throw bad(what, `its blob does not match its digest ${d.digest}`);
  return bytes;
}

/** An OCI image layout's image: the one its index names ref, or its only one. */
function parseLayout(root: string, ref: string | undefined): Parsed {
  const layout = parseJson(readInside(root, 'oci-layout'), 'oci-layout') as { imageLayoutVersion?: unknown };
  if (typeof layout?.imageLayoutVersion !== 'string') throw bad('oci-layout', 'no imageLayoutVersion');
  const all = parseIndex(parseJson(readInside(root, 'index.json'), 'index.json'), 'index.json');
  const refs = all.map((d) => d.refName).filter((r): r is string => r !== undefined);
  let chosen: Descriptor | undefined;
  if (ref !== undefined) chosen = all.find((d) => d.refName === ref);
  else if (all.length === 1) chosen = all[0];
  if (!chosen)
    throw new CellshError(
      'which-image',
      ref === undefined ? `the layout holds ${all.length} images` : `the layout has no image "${ref}"`,
      { hint: `choose one with --ref (it has: ${refs.join(', ') || 'no names'})`, exitCode: ExitCode.usage },
    );
  let desc = chosen;
  for (let depth = 0; ; depth++) {
    const bytes = readBlob(root, desc, 'the manifest');
    const doc = parseJson(bytes, 'the manifest');
    if (isIndex(doc, desc.mediaType)) {
      if (depth > 2) throw bad('the manifest', 'indexes nested too deep');
      desc = pickPlatform(parseIndex(doc, 'the index'), 'the image');
      continue;
    }
    const manifest = parseManifest(doc, 'the manifest');
    const configBytes = readBlob(root, manifest.config, 'the config');
    const { config, diffIds } = parseConfig(parseJson(configBytes, 'the config'), 'the config');
    return {
      format: 'oci',
      manifestDigest: desc.digest,
      configDigest: manifest.config.digest,
      config,
      diffIds,
      layers: manifest.layers.map((l, i) => ({
        open: streamInside(root, `blobs/sha256/${hexOf(l.digest)}`),
        compression: layerCompression(l.mediaType, `layer ${i + 1}`),
        digest: l.digest,
        mediaType: l.mediaType,
      })),
    };
  }
}

/** docker save's image: the one tagged ref, or its only one. */
function parseDockerSave(root: string, ref: string | undefined): Parsed {
  const entries = parseDockerManifest(parseJson(readInside(root, 'manifest.json'), 'manifest.json'), 'manifest.json');
  const chosen =
    ref === undefined ? (entries.length === 1 ? entries[0] : undefined) : entries.find((e) => e.repoTags.includes(ref));
  if (!chosen)
    throw new CellshError(
      'which-image',
      ref === undefined ? `the archive holds ${entries.length} images` : `the archive has no image tagged "${ref}"`,
      {
        hint: `choose one with --ref (it has: ${entries.flatMap((e) => e.repoTags).join(', ') || 'no tags'})`,
        exitCode: ExitCode.usage,
      },
    );
  const configBytes = readInside(root, chosen.config);
  const { config, diffIds } = parseConfig(parseJson(configBytes, 'the config'), 'the config');
  const tag = chosen.repoTags[0];
  return {
    format: 'docker',
    configDigest: sha256(configBytes),
    config,
    diffIds,
    layers: chosen.layers.map((path) => ({
      open: streamInside(root, path),
      compression: sniffInside(root, path),
      // Newer docker names layers by their blob's digest: check it too.
      ...(/^blobs\/sha256\/[0-9a-f]{64}$/.test(path) ? { digest: `sha256:${path.slice(-64)}` } : {}),
    })),
    ...(tag ? { suggested: nameFromRef(tag) } : {}),
  };
}

/** "registry/path/name:tag" as an image name: "name", or "name-tag" for a tag but latest. */
export function nameFromRef(ref: string): string | undefined {
  const noDigest = ref.split('@')[0]!;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const hasTag = colon > slash;
  const repo = hasTag ? noDigest.slice(0, colon) : noDigest;
  const tag = hasTag ? noDigest.slice(colon + 1) : 'latest';
  const last = repo.slice(repo.lastIndexOf('/') + 1).toLowerCase();
  const name = (tag === 'latest' ? last : `${last}-${tag.toLowerCase()}`).replace(/[^a-z0-9._-]/g, '-').slice(0, 64);
  return /^[a-z0-9]/.test(name) && name !== 'host' ? name : undefined;
}

/** The config of an image that is a plain root file system. */
function rootfsConfig(): ImageConfig {
  const { os, architecture } = hostPlatform();
  return {
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    workingDir: '',
    entrypoint: [],
    cmd: [],
    user: '',
    os,
    architecture,
  };
}

/** Unpack the layers the store lacks, bottom first, each over those below it. */
export async function unpackLayers(parsed: Parsed, opts: ImportOptions): Promise<LayerRef[]> {
  const { store } = opts;
  if (parsed.layers.length !== parsed.diffIds.length)
    throw bad('the image', `its manifest has ${parsed.layers.length} layers and its config ${parsed.diffIds.length}`);
  const chains = chainIds(parsed.diffIds);
  const refs: LayerRef[] = [];
  let budget = opts.maxBytes; // for the whole image, not each layer
  for (const [i, layer] of parsed.layers.entries()) {
    const chainId = chains[i]!;
    const what = `layer ${i + 1} of ${parsed.layers.length}`;
    refs.push({
      diffId: parsed.diffIds[i]!,
      chainId,
      ...(layer.digest ? { digest: layer.digest } : {}),
      ...(layer.mediaType ? { mediaType: layer.mediaType } : {}),
    });
    if (store.hasLayer(chainId)) {
      opts.say(`${what}: already in the store`);
      continue;
    }
    const dir = store.tempPath('layer');
    try {
      const blob = new Measure(Number.MAX_SAFE_INTEGER, what);
      const input = pipeline(layer.open(), blob, () => undefined); // an error reaches the unpack's own pipeline
      const lowers = chains
        .slice(0, i)
        .reverse()
        .map((c) => store.layerPath(c));
      const mismatch = bad(what, `its blob does not match its digest ${layer.digest}; the image is damaged`);
      if (budget <= 0)
        throw new CellshError('too-large', `the image unpacks to more than ${opts.maxBytes} bytes`, {
          hint: 'raise the limit with --max-size if the image is meant to be this large',
          exitCode: ExitCode.config,
        });
      const got = await unpackLayer(input, layer.compression, dir, { ...opts, maxBytes: budget, lowers }).catch(
        async (err: unknown) => {
          // A damaged blob mostly shows as a bad gzip stream or a cut-off tar:
          // say what is wrong with it, if that is what it is.
          if (layer.digest && (await digestOfStream(layer.open())) !== layer.digest) throw mismatch;
          throw err;
        },
      );
      if (layer.digest && blob.digest() !== layer.digest) throw mismatch;
      if (got.diffId !== parsed.diffIds[i])
        throw bad(what, `its content (${got.diffId}) is not what the config says (${parsed.diffIds[i]})`);
      budget -= got.bytes;
      publish(store, dir, chainId, got);
      for (const n of got.notes) opts.say(`${what}: ${n}`);
      opts.say(`${what}: ${got.entries} entries, ${got.bytes} bytes`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return refs;
}

/** The digest of everything a stream gives. */
async function digestOfStream(stream: Readable): Promise<string> {
  const m = new Measure(Number.MAX_SAFE_INTEGER, 'a blob');
  stream.pipe(m).resume();
  await new Promise<void>((resolve, reject) => {
    m.on('end', resolve);
    stream.on('error', reject);
  });
  return m.digest();
}

/** Move an unpacked layer into place (another import may have just done so). */
function publish(
  store: ImageStore,
  dir: string,
  chainId: string,
  got: { diffId: string; bytes: number; entries: number },
): void {
  try {
    renameSync(dir, store.layerPath(chainId));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw err;
  }
  store.writeLayerInfo(chainId, { diffId: got.diffId, bytes: got.bytes, entries: got.entries });
}

/** A plain root file system as a tar stream: the folder (open at fd) through
 * GNU tar, which reads it without following links; done says if tar read it all. */
function tarOfFolder(fd: number, shown: string): { stream: Readable; done: Promise<void> } {
  const tar = spawn(
    'tar',
    [
      '--numeric-owner',
      '--xattrs',
      '--xattrs-include=*',
      '--one-file-system',
      '-C',
      '/proc/self/fd/3',
      '-cf',
      '-',
      '.',
    ],
    { stdio: ['ignore', 'pipe', 'pipe', fd] },
  );
  const err: Buffer[] = [];
  tar.stderr!.on('data', (b: Buffer) => err.push(b));
  const done = new Promise<void>((ok, fail) => {
    tar.on('error', fail);
    tar.on('close', (code) => {
      const why = Buffer.concat(err).toString('utf8').trim().split('\n')[0] ?? '';
      if (code === 0) ok();
      else fail(new CellshError('tar-failed', `tar could not read all of ${shown}: ${why || `exit ${code}`}`));
    });
  });
  return { stream: tar.stdout!, done };
}

/** A root file system that is already one unpacked layer (a tar unpacked to dir). */
function publishRootfs(
  opts: ImportOptions,
  dir: string,
  got: { diffId: string; bytes: number; entries: number },
): Parsed {
  if (!opts.store.hasLayer(got.diffId)) publish(opts.store, dir, got.diffId, got);
  const config = rootfsConfig();
  return { format: 'rootfs', configDigest: sha256(JSON.stringify(config)), config, diffIds: [got.diffId], layers: [] };
}

/** What a folder is: an OCI layout, docker save unpacked, or a root file system. */
function kindOf(dir: string): 'oci' | 'docker' | 'rootfs' {
  const has = (n: string): boolean => lstatSync(join(dir, n), { throwIfNoEntry: false })?.isFile() === true;
  if (has('oci-layout') && has('index.json')) return 'oci';
  if (has('manifest.json') && !lstatSync(join(dir, 'etc'), { throwIfNoEntry: false })) return 'docker';
  return 'rootfs';
}

/** Import the image at path under a name; returns its record. */
export async function importImage(path: string, opts: ImportOptions): Promise<ImageRecord> {
  const { store } = opts;
  if (opts.name !== undefined) checkImageName(opts.name);
  let parsed: Parsed;
  let layers: LayerRef[];
  let name: string | undefined;
  const source = openSource(path);
  const scratch = store.tempPath('archive');
  try {
    if (source.dir) {
      const kind = kindOf(source.at);
      if (kind === 'rootfs') {
        opts.say(`reading ${path} as a root file system`);
        const tar = tarOfFolder(source.fd, path);
        const tarFailed = tar.done.then(
          () => undefined,
          (e: unknown) => e,
        );
        const got = await unpackLayer(tar.stream, 'none', scratch, { ...opts, lowers: [] }); // a refusal first
        const failed = await tarFailed;
        if (failed) throw failed;
        parsed = publishRootfs(opts, scratch, got);
      } else parsed = kind === 'oci' ? parseLayout(source.at, opts.ref) : parseDockerSave(source.at, opts.ref);
    } else {
      // A tar of any of the three: unpacked as it is, then looked at.
      const input = createReadStream('', { fd: source.fd, start: 0, autoClose: false });
      const got = await unpackLayer(input, sniffFd(source.fd), scratch, { ...opts, lowers: [] });
      const kind = kindOf(scratch);
      if (kind === 'rootfs') {
        opts.say(`reading ${path} as a root file system`);
        for (const n of got.notes) opts.say(n);
        parsed = publishRootfs(opts, scratch, got);
      } else parsed = kind === 'oci' ? parseLayout(scratch, opts.ref) : parseDockerSave(scratch, opts.ref);
    }
    name = opts.name ?? parsed.suggested ?? nameFromRef(basename(path).replace(/\.(tar|tgz|tar\.gz|oci)$/, ''));
    if (!name)
      throw new CellshError('no-name', `no image name can be made from ${basename(path)}`, {
        hint: 'name it with --name NAME',
        exitCode: ExitCode.usage,
      });
    if (parsed.format !== 'rootfs')
      opts.say(`${parsed.format === 'oci' ? 'an OCI image' : 'a docker save archive'}: ${parsed.layers.length} layers`);
    layers =
      parsed.format === 'rootfs'
        ? [{ diffId: parsed.diffIds[0]!, chainId: parsed.diffIds[0]! }]
        : await unpackLayers(parsed, opts);
  } finally {
    closeQuietly(source.fd);
    rmSync(scratch, { recursive: true, force: true });
  }
  return saveImage(store, parsed, layers, name, resolve(path));
}

/** Write the image's record: from now on it is in the store under name. */
export function saveImage(
  store: ImageStore,
  parsed: Parsed,
  layers: LayerRef[],
  name: string,
  source: string,
): ImageRecord {
  const record: ImageRecord = {
    name: checkImageName(name),
    source,
    format: parsed.format,
    ...(parsed.manifestDigest ? { manifestDigest: checkDigest(parsed.manifestDigest, 'the manifest') } : {}),
    configDigest: parsed.configDigest,
    config: parsed.config,
    layers,
    imported: new Date().toISOString(),
  };
  store.writeImage(record);
  store.ref(record);
  return record;
}
