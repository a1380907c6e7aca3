// The image store: root's, 0700, never shown to a user or a container.
//
//   layers/HEX/        one unpacked layer, named by its ChainID, owned by the store's range
//   layers/HEX.json    what it is: its DiffID, size and entry count
//   images/NAME.json   an image: its digests, config and layers, bottom first
//   refs/ID            the layer list a container mounts, named by its own digest (ID);
//                      what a compiled policy names, so a new import under the same name
//                      changes no running container's layers
//   tmp/               layers being unpacked and archives being read
//   lock               held by the one command changing the store
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { CellshError, ExitCode } from '../errors.js';
import { writeFileAtomic } from '../admin/write-atomic.js';
import { hexOf, sha256 } from './digest.js';
import { pathProblem } from '../policy/validators.js';

/** What an image asks of a container: the OCI config's fields cellsh uses. */
export interface ImageConfig {
  readonly env: string[];
  readonly workingDir: string;
  readonly entrypoint: string[];
  readonly cmd: string[];
  readonly user: string;
  readonly os: string;
  readonly architecture: string;
}

/** One layer of an image. */
export interface LayerRef {
  /** The digest of the uncompressed tar (the config's rootfs.diff_ids). */
  readonly diffId: string;
  /** This layer over all below it: its folder's name in the store. */
  readonly chainId: string;
  /** The blob's digest and media type as the manifest names it (none for a plain root file system). */
  readonly digest?: string;
  readonly mediaType?: string;
}

export interface ImageRecord {
  readonly name: string;
  /** Where it came from: a file, a folder or a registry reference. */
  readonly source: string;
  readonly format: 'oci' | 'docker' | 'rootfs' | 'registry';
  readonly manifestDigest?: string;
  readonly configDigest: string;
  readonly config: ImageConfig;
  /** Bottom first. */
  readonly layers: LayerRef[];
  readonly imported: string;
}

/** What the store keeps beside an unpacked layer. */
export interface LayerInfo {
  readonly diffId: string;
  readonly bytes: number;
  readonly entries: number;
}

/** Names an admin gives images: what a policy will name, and a file name here. */
const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function checkImageName(name: string): string {
  if (!IMAGE_NAME.test(name) || name === 'host')
    throw new CellshError('bad-image-name', `"${name.slice(0, 80)}" is not a valid image name`, {
      hint: 'use lower-case letters, digits, ".", "_" and "-", starting with a letter or digit (and not "host": that is the host itself)',
      exitCode: ExitCode.usage,
    });
  return name;
}

export class ImageStore {
  constructor(readonly root: string) {}

  get layersDir(): string {
    return join(this.root, 'layers');
  }
  get imagesDir(): string {
    return join(this.root, 'images');
  }
  get tmpDir(): string {
    return join(this.root, 'tmp');
  }
  get refsDir(): string {
    return join(this.root, 'refs');
  }

  /** Make the store's folders (root's, 0700) where missing. */
  open(): void {
    for (const dir of [this.root, this.layersDir, this.imagesDir, this.tmpDir, this.refsDir]) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== 0)
        throw new CellshError('store-untrusted', `${dir} is not a folder of root's`, {
          hint: 'the image store must be root-owned; move what is there away',
        });
      chmodSync(dir, 0o700);
    }
  }

  /** Hold the store's lock until the returned function is called: one command
   * changes the store at a time. A lock whose holder is gone is taken over. */
  lock(): () => void {
    const file = join(this.root, 'lock');
    for (let tries = 0; tries < 2; tries++) {
      try {
        const fd = openSync(
          file,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o600,
        );
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return () => rmSync(file, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
        if (Number.isInteger(pid) && pid > 0 && alive(pid))
          throw new CellshError(
            'store-busy',
            `another cellsh-admin image command (pid ${pid}) is changing the image store`,
            {
              hint: 'wait for it to finish, then try again',
              exitCode: ExitCode.refused,
            },
          );
        rmSync(file, { force: true });
      }
    }
    throw new CellshError('store-busy', 'the image store stayed locked', { exitCode: ExitCode.refused });
  }

  layerPath(chainId: string): string {
    return join(this.layersDir, hexOf(chainId));
  }

  hasLayer(chainId: string): boolean {
    try {
      return lstatSync(this.layerPath(chainId)).isDirectory() && this.layerInfo(chainId) !== undefined;
    } catch {
      return false;
    }
  }

  layerInfo(chainId: string): LayerInfo | undefined {
    try {
      return JSON.parse(readFileSync(`${this.layerPath(chainId)}.json`, 'utf8')) as LayerInfo;
    } catch {
      return undefined;
    }
  }

  writeLayerInfo(chainId: string, info: LayerInfo): void {
    writeFileAtomic(`${this.layerPath(chainId)}.json`, `${JSON.stringify(info)}\n`, { mode: 0o600, dirMode: 0o700 });
  }

  /** A fresh folder under tmp/ (removed by the caller, or by gc). */
  tempPath(what: string): string {
    return join(this.tmpDir, `${what}-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  image(name: string): ImageRecord | undefined {
    try {
      return JSON.parse(readFileSync(join(this.imagesDir, `${checkImageName(name)}.json`), 'utf8')) as ImageRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  writeImage(record: ImageRecord): void {
    writeFileAtomic(
      join(this.imagesDir, `${checkImageName(record.name)}.json`),
      `${JSON.stringify(record, null, 2)}\n`,
      {
        mode: 0o600,
        dirMode: 0o700,
      },
    );
  }

  /** The id of an image's layer list (the sha256 hex of refText), written to refs/ if missing (by root). */
  ref(record: ImageRecord): string {
    const text = refText(record);
    const id = hexOf(sha256(text));
    const file = join(this.refsDir, id);
    if (!existsSync(file) && process.geteuid?.() === 0) writeFileAtomic(file, text, { mode: 0o600, dirMode: 0o700 });
    return id;
  }

  removeImage(name: string): void {
    rmSync(join(this.imagesDir, `${checkImageName(name)}.json`));
  }

  images(): ImageRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.imagesDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names
      .filter((n) => n.endsWith('.json') && IMAGE_NAME.test(n.slice(0, -5)))
      .sort()
      .map((n) => this.image(n.slice(0, -5)))
      .filter((r): r is ImageRecord => r !== undefined);
  }

  /** Remove every layer and layer list no image uses, nor the applied policy
   * (keepRefs: the ids it names), and everything left in tmp/ (call with the lock held). */
  collect(keepRefs: ReadonlySet<string> = new Set()): { layers: number; bytes: number } {
    const images = this.images();
    const refs = new Set([...keepRefs, ...images.map((img) => this.ref(img))]);
    const used = new Set(images.flatMap((img) => img.layers.map((l) => hexOf(l.chainId))));
    for (const id of this.list(this.refsDir)) {
      if (!refs.has(id)) {
        rmSync(join(this.refsDir, id), { force: true });
        continue;
      }
      const text = readFileSync(join(this.refsDir, id), 'utf8');
      for (const m of text.matchAll(/^layer ([0-9a-f]{64})$/gm)) used.add(m[1]!);
    }
    let layers = 0;
    let bytes = 0;
    for (const n of this.list(this.layersDir)) {
      const hex = n.endsWith('.json') ? n.slice(0, -5) : n;
      if (used.has(hex)) continue;
      if (!n.endsWith('.json')) {
        layers++;
        bytes += this.layerInfo(`sha256:${hex}`)?.bytes ?? 0;
      }
      rmSync(join(this.layersDir, n), { recursive: true, force: true });
    }
    for (const n of this.list(this.tmpDir)) rmSync(join(this.tmpDir, n), { recursive: true, force: true });
    return { layers, bytes };
  }

  private list(dir: string): string[] {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  }
}

/** What the helper reads to mount an image (src/helper/image.c): its layers, bottom first, and
 * the folder a login shell starts in (the config's WorkingDir, where it is a path the helper takes). */
export function refText(record: ImageRecord): string {
  const workdir = record.config.workingDir.replace(/(.)\/+$/, '$1');
  return [
    'cellsh-image 1',
    `name ${record.name}`,
    ...(workdir && pathProblem(workdir) === undefined ? [`workdir ${workdir}`] : []),
    ...record.layers.map((l) => `layer ${hexOf(l.chainId)}`),
    'end',
    '',
  ].join('\n');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
