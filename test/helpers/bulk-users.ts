// Many users at once, for the bench's question of what a login costs at
// 100,000 users: passwd entries named cellsh-t-nNNNNNN (no home, no shadow
// entry, no password: nobody can log in as them) and members of the
// installation's group, written straight into /etc/passwd and /etc/group
// (useradd takes minutes for that many). Both files are replaced whole
// (written beside, renamed over), and removing takes out every line and member
// of that pattern, so it also clears what an interrupted run left.
import { readFileSync, renameSync, statSync, writeFileSync, chownSync } from 'node:fs';

const PASSWD = '/etc/passwd';
const GROUP = '/etc/group';
/** Names of bulk users: cellsh-t-n and 7 digits. */
const BULK_NAME = /^cellsh-t-n\d{7}$/;
/** Their uids start here (far above any real account's here). */
const FIRST_UID = 3_000_000;
/** Their primary group: Debian's "users". */
const PRIMARY_GID = 100;

/** The text of /etc/passwd and /etc/group in one state. */
export interface AccountFiles {
  readonly passwd: string;
  readonly group: string;
}

/** Replace a file whole, keeping its owner and mode (readers see the old or the new). */
function replace(path: string, text: string): void {
  const st = statSync(path);
  const tmp = `${path}.cellsh-bench`;
  writeFileSync(tmp, text, { mode: st.mode & 0o7777 });
  chownSync(tmp, st.uid, st.gid);
  renameSync(tmp, path);
}

/** The account files as they are now. */
export function readAccounts(): AccountFiles {
  return { passwd: readFileSync(PASSWD, 'utf8'), group: readFileSync(GROUP, 'utf8') };
}

/** Write the account files of a state. */
export function writeAccounts(files: AccountFiles): void {
  replace(PASSWD, files.passwd);
  replace(GROUP, files.group);
}

/** The account files with every bulk user and membership taken out. */
export function withoutBulk(files: AccountFiles): AccountFiles {
  const passwd = files.passwd
    .split('\n')
    .filter((l) => !BULK_NAME.test(l.split(':')[0]!))
    .join('\n');
  const group = files.group
    .split('\n')
    .map((l) => {
      const f = l.split(':');
      if (f.length !== 4) return l;
      const members = f[3]!.split(',').filter((m) => m !== '' && !BULK_NAME.test(m));
      return [...f.slice(0, 3), members.join(',')].join(':');
    })
    .join('\n');
  return { passwd, group };
}

/** The account files with count bulk users added, all members of groupName. */
export function withBulk(files: AccountFiles, count: number, groupName: string): AccountFiles {
  const base = withoutBulk(files);
  const names = Array.from({ length: count }, (_, i) => `cellsh-t-n${String(i + 1).padStart(7, '0')}`);
  const lines = names.map((n, i) => `${n}:x:${FIRST_UID + i}:${PRIMARY_GID}::/home/${n}:/bin/false`);
  const passwd = `${base.passwd.replace(/\n*$/, '\n')}${lines.join('\n')}\n`;
  let found = false;
  const group = base.group
    .split('\n')
    .map((l) => {
      const f = l.split(':');
      if (f[0] !== groupName || f.length !== 4) return l;
      found = true;
      return [...f.slice(0, 3), [...f[3]!.split(',').filter(Boolean), ...names].join(',')].join(':');
    })
    .join('\n');
  if (!found) throw new Error(`no group ${groupName} in ${GROUP}`);
  return { passwd, group };
}

/** Take every bulk user out of the account files (also what an earlier run left). */
export function removeBulkUsers(): void {
  const now = readAccounts();
  const clean = withoutBulk(now);
  if (clean.passwd !== now.passwd || clean.group !== now.group) writeAccounts(clean);
}
