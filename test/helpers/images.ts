// Small images for the image tests, built here: root file systems from
// busybox-static, tars of folders, and OCI image layouts written by hand (so a
// test can also write a broken one), turned into an OCI archive or a docker
// save archive by Debian's skopeo.
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { packageRoot } from './fixtures.js';
import { must, run } from './system.js';

export const OCI_MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** A blob as it sits in a layout, with the descriptor that names it. */
export interface Blob {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

export function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A root file system of busybox-static, /bin/sh and /etc/hello.txt in dir. */
export function busyboxRoot(dir: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'etc'), { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true, mode: 0o1777 });
  copyFileSync('/bin/busybox', join(dir, 'bin', 'busybox'));
  symlinkSync('busybox', join(dir, 'bin', 'sh'));
  writeFileSync(join(dir, 'etc', 'hello.txt'), 'hello from a cellsh test image\n');
  return dir;
}

/** A tar of a folder as a layer has it: numeric owners, sorted, root's. */
export function tarOf(dir: string): Buffer {
  return must('tar', ['--numeric-owner', '--owner=0', '--group=0', '--sort=name', '-C', dir, '-cf', '-', '.']).stdout;
}

/** A function that writes a blob into the layout at dir and returns its descriptor. */
export function blobWriter(dir: string): (mediaType: string, bytes: Buffer) => Blob {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  return (mediaType, bytes) => {
    const digest = digestOf(bytes);
    writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
    return { mediaType, digest, size: bytes.length };
  };
}

/** One image of a layout: its layers (uncompressed tars, bottom first) and config. */
export interface LayoutImage {
  readonly tag: string;
  readonly layers: readonly Buffer[];
  readonly gzip?: boolean;
  readonly env?: string[];
  readonly workingDir?: string;
}

export interface WrittenImage {
  readonly manifest: Blob;
  readonly config: Blob;
  readonly layers: Blob[];
  readonly diffIds: string[];
}

/** Write an OCI image layout in dir with these images, each under its tag. */
export function writeLayout(dir: string, images: readonly LayoutImage[]): Record<string, WrittenImage> {
  const put = blobWriter(dir);
  const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
  const out: Record<string, WrittenImage> = {};
  for (const img of images) {
    const layers = img.layers.map((tar) =>
      img.gzip === false ? put(OCI_MEDIA.layer, tar) : put(OCI_MEDIA.layerGzip, gzipSync(tar)),
    );
    const diffIds = img.layers.map(digestOf);
    const config = put(
      OCI_MEDIA.config,
      json({
        architecture: 'amd64',
        os: 'linux',
        config: { Env: img.env ?? ['PATH=/bin'], Cmd: ['/bin/sh'], WorkingDir: img.workingDir ?? '' },
        rootfs: { type: 'layers', diff_ids: diffIds },
      }),
    );
    const manifest = put(OCI_MEDIA.manifest, json({ schemaVersion: 2, mediaType: OCI_MEDIA.manifest, config, layers }));
    out[img.tag] = { manifest, config, layers, diffIds };
  }
  writeFileSync(join(dir, 'oci-layout'), json({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    json({
      schemaVersion: 2,
      mediaType: OCI_MEDIA.index,
      manifests: images.map((img) => ({
        ...out[img.tag]!.manifest,
        annotations: { 'org.opencontainers.image.ref.name': img.tag },
      })),
    }),
  );
  return out;
}

/** The layout's image tag as an OCI archive (what podman save --format oci-archive writes). */
export function ociArchive(layout: string, tag: string, file: string): string {
  must('/usr/bin/skopeo', ['copy', '--quiet', `oci:${layout}:${tag}`, `oci-archive:${file}`]);
  return file;
}

/** The layout's image tag as docker save writes it, tagged repoTag. */
export function dockerArchive(layout: string, tag: string, file: string, repoTag: string): string {
  must('/usr/bin/skopeo', ['copy', '--quiet', `oci:${layout}:${tag}`, `docker-archive:${file}:${repoTag}`]);
  return file;
}

/** A Debian 12 minbase root, cached by the quick-start harness (`tools`: with
 * openssh-sftp-server, rsync and git), or why there is none here. */
export function debianRoot(variant: 'base' | 'tools'): string | { skip: string } {
  const r = run(join(packageRoot(), 'test', 'harness', 'fresh-debian.sh'), [`--${variant}`], { timeoutMs: 900_000 });
  return r.status === 0 ? r.out.trim() : { skip: `no Debian base here: ${r.err.trim().split('\n').at(-1)}` };
}
