// The account directory apply compiles from: every user's groups come from one
// pass over the group database where its sources list every group in full,
// and they are the groups initgroups(3) would give at login.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { getgrgid, getgrnam, getgrouplist, listGroups } from '../../../src/sys/libc.js';
import { enrolledUsers, groupSources, nssDirectory } from '../../../src/sys/users.js';
import { readAccounts, removeBulkUsers, withBulk, writeAccounts } from '../../helpers/bulk-users.js';

test("the group database's sources are read from nsswitch.conf, actions and comments left out", () => {
  assert.deepEqual(groupSources('passwd: files\ngroup:          files systemd\n'), ['files', 'systemd']);
  assert.deepEqual(groupSources('# group: ldap\ngroup: sss [NOTFOUND=return] files # local\n'), ['sss', 'files']);
  assert.deepEqual(groupSources('group:files\n'), ['files']);
  assert.equal(groupSources('passwd: files\n'), undefined);
});

const root = process.getuid?.() === 0;
const skip = root ? false : 'creating users and groups needs root';

function must(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

test("every user's groups, from one pass over the groups, are the ones initgroups gives", { skip }, (t) => {
  // Two users in several groups, in and out of order, one of them in its own
  // primary group's member list too.
  const groups = ['cellsh-t-ug1', 'cellsh-t-ug2', 'cellsh-t-ug3'];
  const users = ['cellsh-t-ua', 'cellsh-t-ub'];
  t.after(() => {
    for (const u of users) spawnSync('userdel', ['-r', u], { stdio: 'ignore' });
    for (const g of groups) spawnSync('groupdel', [g], { stdio: 'ignore' });
  });
  for (const g of groups) must('groupadd', [g]);
  must('useradd', ['-M', '-g', groups[0]!, '-G', `${groups[2]},${groups[1]},${groups[0]}`, users[0]!]);
  must('useradd', ['-M', '-G', groups[1]!, users[1]!]);
  const dir = nssDirectory();
  const everyone = dir.allUsers();
  assert.ok(
    everyone.length >= 2 && users.every((u) => everyone.some((e) => e.name === u)),
    'the test users are listed',
  );
  for (const u of everyone) assert.deepEqual(dir.groupsOf(u), getgrouplist(u.name, u.gid), u.name);
  const a = everyone.find((e) => e.name === users[0])!;
  assert.equal(new Set(dir.groupsOf(a)).size, 3, 'each group once');
});

test("enrolled users are the group's members and the users whose primary group it is, each once", { skip }, (t) => {
  const names = ['cellsh-t-ec', 'cellsh-t-ed'];
  t.after(() => {
    for (const u of names) spawnSync('userdel', ['-r', u], { stdio: 'ignore' });
    spawnSync('groupdel', ['cellsh-t-eg'], { stdio: 'ignore' });
  });
  must('groupadd', ['cellsh-t-eg']);
  must('useradd', ['-M', '-G', 'cellsh-t-eg', names[0]!]);
  must('useradd', ['-M', '-g', 'cellsh-t-eg', '-G', 'cellsh-t-eg', names[1]!]);
  const enrolled = enrolledUsers(nssDirectory(), 'cellsh-t-eg').map((u) => u.name);
  assert.deepEqual(enrolled.sort(), [...names].sort());
  assert.deepEqual(enrolledUsers(nssDirectory(), 'cellsh-t-no-such-group'), []);
});

test('a group of 100,000 members is read whole by name, by gid and in the enumeration', { skip }, (t) => {
  const before = readAccounts();
  t.after(() => removeBulkUsers());
  const gid = 3_999_999;
  writeAccounts(
    withBulk(
      { ...before, group: `${before.group.replace(/\n*$/, '\n')}cellsh-t-big:x:${gid}:\n` },
      100_000,
      'cellsh-t-big',
    ),
  );
  t.after(() => writeAccounts({ ...readAccounts(), group: readAccounts().group.replace(/^cellsh-t-big:.*\n/m, '') }));
  const byName = getgrnam('cellsh-t-big');
  const byGid = getgrgid(gid);
  const listed = listGroups().find((g) => g.name === 'cellsh-t-big');
  for (const g of [byName, byGid, listed]) {
    assert.equal(g?.members.length, 100_000);
    assert.deepEqual([g.members[0], g.members.at(-1)], ['cellsh-t-n0000001', 'cellsh-t-n0100000']);
  }
  assert.equal(enrolledUsers(nssDirectory(), 'cellsh-t-big').length, 100_000);
});
