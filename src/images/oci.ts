// The OCI image format's documents (index, manifest, config) and docker
// save's manifest.json, parsed from untrusted bytes into what cellsh uses.
// Every field read is checked; anything else in them is ignored.
import { endianness } from 'node:os';
import { CellshError, ExitCode } from '../errors.js';
import { checkDigest } from './digest.js';
import type { ImageConfig } from './store.js';

/** The largest manifest, index or config read. */
export const DOCUMENT_MAX = 4 << 20;
/** The most layers an image may have: overlay's option string must hold them all. */
export const LAYERS_MAX = 100;

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

const LAYER_MEDIA = new Map<string, 'none' | 'gzip' | 'zstd'>([
  ['application/vnd.oci.image.layer.v1.tar', 'none'],
  ['application/vnd.oci.image.layer.v1.tar+gzip', 'gzip'],
  ['application/vnd.oci.image.layer.v1.tar+zstd', 'zstd'],
  ['application/vnd.oci.image.layer.nondistributable.v1.tar', 'none'],
  ['application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'gzip'],
  ['application/vnd.docker.image.rootfs.diff.tar', 'none'],
  ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'gzip'],
  ['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'gzip'],
]);

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: { os: string; architecture: string; variant?: string };
  readonly refName?: string;
}

export interface Manifest {
  readonly config: Descriptor;
  readonly layers: Descriptor[];
}

function bad(what: string, why: string): CellshError {
  return new CellshError('bad-image', `${what}: ${why}`, {
    hint: 'the image is damaged or not an OCI or Docker image',
    exitCode: ExitCode.config,
  });
}

export function parseJson(bytes: Buffer, what: string): unknown {
  if (bytes.length > DOCUMENT_MAX) throw bad(what, `larger than ${DOCUMENT_MAX} bytes`);
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (err) {
    throw bad(what, `not valid JSON (${(err as Error).message.slice(0, 80)})`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strings(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw bad(what, 'not a list of strings');
  return v as string[];
}

function descriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw bad(what, 'not an object');
  const size = v['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw bad(what, 'no valid size');
  const mediaType = typeof v['mediaType'] === 'string' ? v['mediaType'] : '';
  const p = v['platform'];
  const annotations = isObject(v['annotations']) ? v['annotations'] : {};
  const ref = annotations['org.opencontainers.image.ref.name'];
  return {
    mediaType,
    digest: checkDigest(v['digest'], what),
    size,
    ...(isObject(p) && typeof p['os'] === 'string' && typeof p['architecture'] === 'string'
      ? {
          platform: {
            os: p['os'],
            architecture: p['architecture'],
            ...(typeof p['variant'] === 'string' ? { variant: p['variant'] } : {}),
          },
        }
      : {}),
    ...(typeof ref === 'string' ? { refName: ref } : {}),
  };
}

/** An index (or Docker manifest list): its manifests. */
export function parseIndex(doc: unknown, what: string): Descriptor[] {
  if (!isObject(doc) || !Array.isArray(doc['manifests'])) throw bad(what, 'no manifests list');
  return doc['manifests'].map((m, i) => descriptor(m, `${what}: manifest ${i + 1}`));
}

/** Is this document an index (a list of manifests) rather than one manifest? */
export function isIndex(doc: unknown, mediaType: string): boolean {
  if (mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList) return true;
  return isObject(doc) && Array.isArray(doc['manifests']) && !('layers' in doc);
}

export function parseManifest(doc: unknown, what: string): Manifest {
  if (!isObject(doc)) throw bad(what, 'not an object');
  if (doc['schemaVersion'] === 1) throw bad(what, 'a Docker schema 1 manifest, which is not supported');
  if (!Array.isArray(doc['layers'])) throw bad(what, 'no layers list');
  const layers = doc['layers'].map((l, i) => descriptor(l, `${what}: layer ${i + 1}`));
  if (layers.length > LAYERS_MAX) throw bad(what, `more than ${LAYERS_MAX} layers`);
  return { config: descriptor(doc['config'], `${what}: config`), layers };
}

/** How a layer of this media type is compressed. */
export function layerCompression(mediaType: string, what: string): 'none' | 'gzip' | 'zstd' {
  const c = LAYER_MEDIA.get(mediaType);
  if (c === undefined) throw bad(what, `a layer of media type "${mediaType.slice(0, 100)}", which is not a tar layer`);
  return c;
}

/** This machine's platform, as an index names it: Node's process.arch in OCI's GOARCH
 * names, and for 32-bit arm the variant Node was built for. */
export function hostPlatform(): NonNullable<Descriptor['platform']> {
  // biome-ignore format: a table
  const arch: Readonly<Record<string, string>> = {
    x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: endianness() === 'LE' ? 'ppc64le' : 'ppc64',
    s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle',
  };
  const architecture = arch[process.arch] ?? process.arch;
  const arm = (process.config.variables as { arm_version?: string }).arm_version;
  return { os: 'linux', architecture, ...(architecture === 'arm' && arm ? { variant: `v${arm}` } : {}) };
}

/** The manifest of an index for a platform, this machine's by default. A platform
 * without a variant takes any; an arm64 entry without one is v8. */
export function pickPlatform(
  manifests: readonly Descriptor[],
  what: string,
  want: Descriptor['platform'] = hostPlatform(),
): Descriptor {
  type Platform = NonNullable<Descriptor['platform']>;
  const variant = (p: Platform) => p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
  const name = (p: Platform) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
  const found = manifests.find(
    ({ platform: p }) =>
      p?.os === want.os &&
      p.architecture === want.architecture &&
      (want.variant === undefined || variant(p) === variant(want)),
  );
  if (found) return found;
  // "unknown/unknown" entries are attestations (buildx), not images.
  const there = new Set(manifests.map((m) => (m.platform ? name(m.platform) : '?')));
  const have = [...there].filter((p) => !p.startsWith('unknown/')).join(', ');
  throw new CellshError('no-platform', `${what} has no image for ${name(want)} (it has: ${have || 'none'})`, {
    exitCode: ExitCode.config,
  });
}

/** The config fields cellsh uses, and the DiffIDs of its layers. */
export function parseConfig(doc: unknown, what: string): { config: ImageConfig; diffIds: string[] } {
  if (!isObject(doc)) throw bad(what, 'not an object');
  const rootfs = doc['rootfs'];
  if (!isObject(rootfs) || !Array.isArray(rootfs['diff_ids'])) throw bad(what, 'no rootfs.diff_ids');
  const diffIds = rootfs['diff_ids'].map((d, i) => checkDigest(d, `${what}: diff_ids ${i + 1}`));
  const c = isObject(doc['config']) ? doc['config'] : {};
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  return {
    config: {
      env: strings(c['Env'], `${what}: Env`),
      workingDir: text(c['WorkingDir']),
      entrypoint: strings(c['Entrypoint'], `${what}: Entrypoint`),
      cmd: strings(c['Cmd'], `${what}: Cmd`),
      user: text(c['User']),
      os: text(doc['os']),
      architecture: text(doc['architecture']),
    },
    diffIds,
  };
}

/** One image of docker save's manifest.json. */
export interface DockerEntry {
  readonly config: string;
  readonly repoTags: string[];
  readonly layers: string[];
}

/** A path inside an archive, as manifest.json names it: plain, relative, no "..". */
export function archivePath(v: unknown, what: string): string {
  if (
    typeof v !== 'string' ||
    !/^[A-Za-z0-9._:/-]{1,512}$/.test(v) ||
    v.startsWith('/') ||
    v.split('/').some((p) => p === '..' || p === '')
  )
    throw bad(what, `not a plain path inside the archive (${String(v).slice(0, 80)})`);
  return v;
}

export function parseDockerManifest(doc: unknown, what: string): DockerEntry[] {
  if (!Array.isArray(doc) || doc.length === 0) throw bad(what, 'not a list of images');
  return doc.map((e, i) => {
    const w = `${what}: image ${i + 1}`;
    if (!isObject(e) || !Array.isArray(e['Layers'])) throw bad(w, 'no Layers list');
    if (e['Layers'].length > LAYERS_MAX) throw bad(w, `more than ${LAYERS_MAX} layers`);
    return {
      config: archivePath(e['Config'], `${w}: Config`),
      repoTags: strings(e['RepoTags'], `${w}: RepoTags`),
      layers: e['Layers'].map((l, j) => archivePath(l, `${w}: layer ${j + 1}`)),
    };
  });
}
