// What `cellsh-admin doctor` says about the writable layers of image
// containers: how this host keeps them (src/helper/layer.h), and whether it
// can. A persistent layer is an ext4 file per user on a loop device, made and
// resized with e2fsprogs; a temporary one is a tmpfs sized by limits.disk.
// Project quotas are not used: the loop file needs nothing of the file system
// below it, and works the same on ext4, xfs or btrfs.
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CompiledUser } from '../policy/compiled.js';
import type { Finding } from './doctor.js';
import { humanBytes } from './ps.js';

/** The e2fsprogs tools the helper runs (layer.c). */
export const LAYER_TOOLS = ['/sbin/mkfs.ext4', '/sbin/e2fsck', '/sbin/resize2fs'];

/** What the checks read of the host (the tests hand in their own). */
export interface LayerHost {
  /** The file systems the kernel has loaded (/proc/filesystems). */
  filesystems(): string;
  /** Can loop devices be asked for (/dev/loop-control)? */
  loopControl(): boolean;
  /** Of LAYER_TOOLS, those missing. */
  missingTools(): string[];
  /** The layer folder's owner and mode, if it exists. */
  layerDir(): { uid: number; mode: number } | undefined;
  /** The layers kept in it: each file's uid and the bytes it takes on disk. */
  layerFiles(): Array<{ uid: number; bytes: number }>;
}

export function hostLayers(dir: string): LayerHost {
  return {
    filesystems: () => readFileSync('/proc/filesystems', 'utf8'),
    loopControl: () => {
      try {
        return lstatSync('/dev/loop-control').isCharacterDevice();
      } catch {
        return false;
      }
    },
    missingTools: () => LAYER_TOOLS.filter((t) => !existsSync(t)),
    layerDir: () => {
      try {
        const st = lstatSync(dir);
        return { uid: st.uid, mode: st.isDirectory() ? st.mode & 0o7777 : -1 };
      } catch {
        return undefined;
      }
    },
    layerFiles: () => {
      try {
        return readdirSync(dir)
          .filter((n) => /^\d+\.ext4$/.test(n))
          .map((n) => ({ uid: Number(n.slice(0, -5)), bytes: lstatSync(join(dir, n)).blocks * 512 }));
      } catch {
        return [];
      }
    },
  };
}

type LayerUser = Pick<CompiledUser, 'name' | 'uid' | 'image' | 'layer' | 'memory'>;

export function checkLayers(compiled: readonly LayerUser[], dir: string, host: LayerHost): Finding[] {
  const users = compiled.filter((u) => u.image !== 'host');
  const keeps = new Set(users.filter((u) => u.layer.mode === 'persistent').map((u) => u.uid));
  const left = host.layerFiles().filter((f) => !keeps.has(f.uid));
  const orphans: Finding[] =
    left.length === 0
      ? []
      : [
          {
            status: 'warn',
            area: 'policy',
            message: `writable layers no policy keeps now take ${left.map((f) => `${humanBytes(f.bytes)} (uid ${f.uid})`).join(', ')}; a new account with that uid and persist: true is refused them`,
            fix: `cellsh-admin reset USER, or rm ${dir}/UID.ext4 once no one needs it`,
          },
        ];
  if (users.length === 0) return orphans;
  const kept = users.filter((u) => u.layer.mode === 'persistent');
  const thrown = users.filter((u) => u.layer.mode === 'temporary');
  const names = (list: readonly LayerUser[]): string => list.map((u) => u.name).join(', ');
  const out: Finding[] = [
    {
      status: 'ok',
      area: 'install',
      message: [
        kept.length > 0
          ? `persist: true keeps a writable layer in an ext4 file per user in ${dir}, on a loop device (${names(kept)})`
          : '',
        thrown.length > 0
          ? `persist: false gives a tmpfs sized by limits.disk, within limits.memory (${names(thrown)})`
          : '',
      ]
        .filter((x) => x)
        .join('; '),
    },
  ];
  if (kept.length > 0) {
    const refused = `logins of users with persist: true are refused (${names(kept)})`;
    if (!host.loopControl())
      out.push({
        status: 'fail',
        area: 'install',
        message: `/dev/loop-control is missing: ${refused}`,
        fix: 'modprobe loop, and add "loop" to /etc/modules',
      });
    const missing = host.missingTools();
    if (missing.length > 0)
      out.push({
        status: 'fail',
        area: 'install',
        message: `${missing.join(', ')} missing: ${refused}`,
        fix: 'apt-get install e2fsprogs',
      });
    if (!/\text4$/m.test(host.filesystems()))
      out.push({
        status: 'warn',
        area: 'install',
        message: 'ext4 is not loaded; the first persistent layer loads it, if the kernel has it as a module',
        fix: 'modprobe ext4',
      });
    const d = host.layerDir();
    if (d && (d.uid !== 0 || d.mode < 0 || (d.mode & 0o077) !== 0))
      out.push({
        status: 'fail',
        area: 'install',
        message: `${dir} is not a folder only root can open: ${refused}`,
        fix: `chown root:root ${dir} && chmod 0700 ${dir}`,
      });
  }
  for (const u of thrown)
    if (u.layer.bytes > 0 && u.memory > 0 && u.layer.bytes > u.memory)
      out.push({
        status: 'warn',
        area: 'policy',
        message: `${u.name}'s limits.disk (${humanBytes(u.layer.bytes)}) is more than limits.memory (${humanBytes(u.memory)}); without persist the layer is in memory, which runs out first`,
        fix: `set persist: true for ${u.name}, or a limits.disk below limits.memory`,
      });
  return [...out, ...orphans];
}
