// Users and groups as the policy compiler sees them. The interface lets unit
// tests hand in a fixed directory; the real one asks NSS through libc.
import { LRUCache } from 'lru-cache';
import { readFileSync } from 'node:fs';
import {
  getgrgid,
  getgrnam,
  getgrouplist,
  getpwnam,
  getpwuid,
  listGroups,
  listUsers,
  type GroupEntry,
  type PasswdEntry,
} from './libc.js';

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

/** The group database's sources in nsswitch.conf, or undefined if it can't be read. */
export function groupSources(conf: string): string[] | undefined {
  const line = conf
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .find((l) => /^group\s*:/.test(l));
  return line
    ?.replace(/^group\s*:/, '')
    .replace(/\[[^\]]*\]/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

/** Sources whose enumeration lists every group with its members, as their
 * initgroups would find them: one pass over all groups then gives every user's
 * groups. Any other source (sss, ldap, winbind, compat) is asked per user. */
const ENUMERABLE_SOURCES = new Set(['files', 'systemd']);

/** Each user's groups other than their primary, by name, from one enumeration of
 * every group, if the group database's sources all enumerate in full. */
function memberIndex(): Map<string, number[]> | undefined {
  let sources: string[] | undefined;
  try {
    sources = groupSources(readFileSync('/etc/nsswitch.conf', 'utf8'));
  } catch {
    return undefined;
  }
  if (!sources || sources.length === 0 || !sources.every((s) => ENUMERABLE_SOURCES.has(s))) return undefined;
  const index = new Map<string, number[]>();
  for (const g of listGroups()) {
    for (const m of g.members) {
      const gids = index.get(m);
      if (!gids) index.set(m, [g.gid]);
      else if (!gids.includes(g.gid)) gids.push(g.gid);
    }
  }
  return index;
}

/** The real directory: NSS through libc. Look-ups are cached for the life of
 * one command; a command that needs every user's groups (apply, at any number
 * of users) reads the group database once instead of once per user. */
export function nssDirectory(): UserDirectory {
  const groupNames = new LRUCache<number, { name: string | undefined }>({ max: CACHE_SIZE });
  const groups = new LRUCache<string, { group: GroupEntry | undefined }>({ max: 64 });
  let users: PasswdEntry[] | undefined;
  let members: Map<string, number[]> | null | undefined; // null: ask NSS per user
  return {
    user: (name) => getpwnam(name),
    userById: (uid) => getpwuid(uid),
    group(name) {
      let hit = groups.get(name);
      if (!hit) {
        hit = { group: getgrnam(name) };
        groups.set(name, hit);
      }
      return hit.group;
    },
    groupName(gid) {
      let hit = groupNames.get(gid);
      if (!hit) {
        hit = { name: getgrgid(gid)?.name };
        groupNames.set(gid, hit);
      }
      return hit.name;
    },
    groupsOf(user) {
      if (members === undefined) members = memberIndex() ?? null;
      if (members === null) return getgrouplist(user.name, user.gid);
      return [user.gid, ...(members.get(user.name) ?? []).filter((g) => g !== user.gid)];
    },
    allUsers: () => (users ??= listUsers()),
  };
}

/** Users who are enrolled: members of the cellsh group (by membership or primary gid). */
export function enrolledUsers(dir: UserDirectory, groupName: string): PasswdEntry[] {
  const group = dir.group(groupName);
  if (!group) return [];
  const all = dir.allUsers();
  const listed = new Map<string, PasswdEntry>();
  for (const u of all) if (!listed.has(u.name)) listed.set(u.name, u); // the first, as getpwnam finds it
  const byName = new Map<string, PasswdEntry>();
  for (const member of group.members) {
    // A member the enumeration did not list (a directory that lists only some) is looked up.
    const u = listed.get(member) ?? dir.user(member);
    if (u) byName.set(u.name, u);
  }
  for (const u of all) {
    if (u.gid === group.gid) byName.set(u.name, u);
  }
  return [...byName.values()].sort((a, b) => a.uid - b.uid);
}
