// Users and groups as the policy compiler sees them. The interface lets unit
// tests hand in a fixed directory; the real one asks NSS through libc.
import { LRUCache } from 'lru-cache';
import { getgrgid, getgrnam, getgrouplist, getpwnam, getpwuid, listUsers, type GroupEntry, type PasswdEntry } from './libc.js';

export type { PasswdEntry, GroupEntry };

/** What the policy compiler needs to know about accounts. */
export interface UserDirectory {
  /** A user by name, or undefined. */
  user(name: string): PasswdEntry | undefined;
  /** A user by uid, or undefined. */
  userById(uid: number): PasswdEntry | undefined;
  /** A group by name, or undefined. */
  group(name: string): GroupEntry | undefined;
  /** A group's name by gid, or undefined. */
  groupName(gid: number): string | undefined;
  /** The gids a user gets at login (primary first). */
  groupsOf(user: PasswdEntry): number[];
  /** Every user NSS can list. */
  allUsers(): PasswdEntry[];
}

const CACHE_SIZE = 4096;

/** The real directory: NSS through libc, with a bounded cache for repeated look-ups. */
export function nssDirectory(): UserDirectory {
  const groupNames = new LRUCache<number, { name: string | undefined }>({ max: CACHE_SIZE });
  return {
    user: (name) => getpwnam(name),
    userById: (uid) => getpwuid(uid),
    group: (name) => getgrnam(name),
    groupName(gid) {
      let hit = groupNames.get(gid);
      if (!hit) {
        hit = { name: getgrgid(gid)?.name };
        groupNames.set(gid, hit);
      }
      return hit.name;
    },
    groupsOf: (user) => getgrouplist(user.name, user.gid),
    allUsers: () => listUsers(),
  };
}

/** Users who are enrolled: members of the cellsh group (by membership or primary gid). */
export function enrolledUsers(dir: UserDirectory, groupName: string): PasswdEntry[] {
  const group = dir.group(groupName);
  if (!group) return [];
  const byName = new Map<string, PasswdEntry>();
  for (const member of group.members) {
    const u = dir.user(member);
    if (u) byName.set(u.name, u);
  }
  for (const u of dir.allUsers()) {
    if (u.gid === group.gid) byName.set(u.name, u);
  }
  return [...byName.values()].sort((a, b) => a.uid - b.uid);
}
