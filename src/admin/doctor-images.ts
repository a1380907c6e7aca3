// What `cellsh-admin doctor` says about images: whether this kernel can stack
// an image's layers (overlayfs), whether each image the policy gives is in the
// store, and whether the store's ids are nobody else's.
import { readFileSync } from 'node:fs';
import type { CompiledUser } from '../policy/compiled.js';
import { parseSubIds, RANGE_SIZE, STORE_USER, type IdRange, type SubIdEntry } from '../images/store-range.js';
import type { Finding } from './doctor.js';

/** What the checks read of the host (the tests hand in their own). */
export interface ImageHost {
  /** The file systems the kernel has (/proc/filesystems). */
  filesystems(): string;
  /** The store's range, if it has one. */
  storeRange(): IdRange | undefined;
  /** /etc/subuid and /etc/subgid. */
  subIds(): { uid: SubIdEntry[]; gid: SubIdEntry[] };
  /** Every account's uid and gid. */
  ids(): number[];
  /** Is the image's layer list (its id) in the store? */
  hasRef(id: string): boolean;
}

export function hostImages(
  store: { refsDir: string },
  range: () => IdRange | undefined,
  ids: () => number[],
): ImageHost {
  const read = (f: string): SubIdEntry[] => {
    try {
      return parseSubIds(readFileSync(f, 'utf8'));
    } catch {
      return [];
    }
  };
  return {
    filesystems: () => readFileSync('/proc/filesystems', 'utf8'),
    storeRange: range,
    subIds: () => ({ uid: read('/etc/subuid'), gid: read('/etc/subgid') }),
    ids,
    hasRef: (id) => {
      try {
        readFileSync(`${store.refsDir}/${id}`);
        return true;
      } catch {
        return false;
      }
    },
  };
}

export function checkImages(
  compiled: ReadonlyArray<Pick<CompiledUser, 'name' | 'image'> & Partial<Pick<CompiledUser, 'root'>>>,
  host: ImageHost,
): Finding[] {
  const users = compiled.filter((u) => u.image !== 'host');
  const range = host.storeRange();
  const out: Finding[] = [];
  if (users.length > 0 && !/\toverlay$/m.test(host.filesystems()))
    out.push({
      status: 'fail',
      area: 'install',
      message: `this kernel has no overlayfs: logins of users given an image fail (${users.map((u) => u.name).join(', ')})`,
      fix: 'modprobe overlay, and add "overlay" to /etc/modules',
    });
  for (const u of users) {
    if (u.image !== 'host' && !host.hasRef(u.image.id))
      out.push({
        status: 'fail',
        area: 'policy',
        message: `${u.name}'s image "${u.image.name}" is not in the image store: their logins fail`,
        fix: `import it again (cellsh-admin image import), then cellsh-admin apply`,
      });
  }
  const { uid: subUids, gid: subGids } = host.subIds();
  const others = (entries: SubIdEntry[], owner: string, start: number): string[] =>
    entries
      .filter((e) => e.owner !== owner && e.start < start + RANGE_SIZE && start < e.start + e.count)
      .map((e) => e.owner);
  for (const u of compiled) {
    if (!u.root || u.root === 'none') continue;
    const { subUid, subGid } = u.root;
    const shared = [...new Set([...others(subUids, u.name, subUid), ...others(subGids, u.name, subGid)])];
    const real = host
      .ids()
      .filter((id) => (id >= subUid && id < subUid + RANGE_SIZE) || (id >= subGid && id < subGid + RANGE_SIZE));
    if (shared.length > 0 || real.length > 0)
      out.push({
        status: 'fail',
        area: 'policy',
        message: `${u.name}'s subordinate ids ${subUid}-${subUid + RANGE_SIZE - 1} (root inside) are also ${shared.length > 0 ? `${shared.join(', ')}'s` : `account ids (${real.slice(0, 3).join(', ')})`}: their root could own what is someone else's`,
        fix: `give ${u.name} a range of their own in /etc/subuid and /etc/subgid (usermod --del-subuids / --add-subuids), then cellsh-admin apply`,
      });
  }
  if (range) {
    const [uid, gid] = [subUids, subGids];
    const overlaps = (entries: SubIdEntry[], start: number): string[] =>
      entries
        .filter((e) => e.owner !== STORE_USER && e.start < start + RANGE_SIZE && start < e.start + e.count)
        .map((e) => e.owner);
    const shared = [...new Set([...overlaps(uid, range.uid), ...overlaps(gid, range.gid)])];
    const real = host
      .ids()
      .filter(
        (id) => (id >= range.uid && id < range.uid + RANGE_SIZE) || (id >= range.gid && id < range.gid + RANGE_SIZE),
      );
    if (shared.length > 0 || real.length > 0)
      out.push({
        status: 'fail',
        area: 'install',
        message: `the image store's ids ${range.uid}-${range.uid + RANGE_SIZE - 1} are also ${shared.length > 0 ? `subordinate ids of ${shared.join(', ')}` : `account ids (${real.slice(0, 3).join(', ')})`}: image files would be theirs`,
        fix: `give those their own range in /etc/subuid and /etc/subgid (usermod --del-subuids / --add-subuids)`,
      });
  }
  return out;
}
