// Shared test helpers: fixture paths resolved from the package root (tests run
// from dist/test/...), a fixed user directory built from a table, a throw-away
// installation layout under a temp folder, and policy shorthands.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_LAYOUT, type Layout } from '../../src/layout.js';
import type { GroupEntry, PasswdEntry, UserDirectory } from '../../src/sys/users.js';
import type { DiskNumbers } from '../../src/sys/block.js';
import { buildPolicy, formatDiagnostic, type Built, type PolicyEnv } from '../../src/policy/index.js';

/** The folder holding package.json, found by walking up from this file. */
export function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + __filename);
    dir = up;
  }
  return dir;
}

/** The path of a fixture file: fixturePath('policy', 'unknown-key-typo', 'policy.yaml'). */
export function fixturePath(...parts: string[]): string {
  return join(packageRoot(), 'test', 'fixtures', ...parts);
}

/** A user row for tableDirectory: name, uid, gid, home (default /home/NAME), extra group names. */
export interface UserRow {
  name: string;
  uid: number;
  gid: number;
  home?: string;
  groups?: string[];
}

/** A fixed UserDirectory from tables of users and groups (name -> gid). */
export function tableDirectory(users: UserRow[], groups: Record<string, number>): UserDirectory {
  const passwd: PasswdEntry[] = users.map((u) => ({
    name: u.name,
    uid: u.uid,
    gid: u.gid,
    gecos: '',
    home: u.home ?? `/home/${u.name}`,
    shell: '/usr/local/bin/cellsh',
  }));
  const group = (name: string): GroupEntry | undefined => {
    const gid = groups[name];
    if (gid === undefined) return undefined;
    return { name, gid, members: users.filter((u) => u.groups?.includes(name)).map((u) => u.name) };
  };
  return {
    user: (name) => passwd.find((p) => p.name === name),
    userById: (uid) => passwd.find((p) => p.uid === uid),
    group,
    groupName: (gid) => Object.keys(groups).find((n) => groups[n] === gid),
    groupsOf: (p) => [p.gid, ...(users.find((u) => u.name === p.name)?.groups ?? []).map((g) => groups[g]!)],
    allUsers: () => [...passwd],
  };
}

/** The directory most policy tests use: alice and bob enrolled, carol not, root. */
export function sampleDirectory(): UserDirectory {
  return tableDirectory(
    [
      { name: 'root', uid: 0, gid: 0, home: '/root' },
      { name: 'alice', uid: 1001, gid: 1001, groups: ['cellsh', 'dev'] },
      { name: 'bob', uid: 1002, gid: 1002, groups: ['cellsh'] },
      { name: 'carol', uid: 1003, gid: 1003 },
    ],
    { root: 0, alice: 1001, bob: 1002, carol: 1003, cellsh: 900, dev: 950 },
  );
}

/** A folder for temp files whose every folder from "/" down belongs to root and
 * is writable by root alone, as cellsh-admin wants above policy files: the test
 * root test/run.sh makes. Undefined when the tests don't run as root through it. */
export function trustedTempBase(): string | undefined {
  const base = process.env['CELLSH_TEST_ROOT'];
  return base && process.getuid?.() === 0 && existsSync(base) ? base : undefined;
}

/** Why a test of the admin verbs on policy files can't run here, or false: they trust only
 * files root alone could have written, in folders only root may write. */
export function needsTrustedBase(): string | false {
  return trustedTempBase()
    ? false
    : "needs root and the root-owned test root of test/run.sh (policy files must be root's, in folders only root may write)";
}

/** A layout whose every path is under a fresh temp folder (in the trusted base when
 * there is one, else the system's temp folder); remove() deletes it. */
export function tempLayout(): { layout: Layout; root: string; remove(): void } {
  const root = mkdtempSync(join(trustedTempBase() ?? tmpdir(), 'cellsh-test-'));
  const layout: Layout = {
    ...DEFAULT_LAYOUT,
    libDir: join(root, 'lib'),
    helper: join(root, 'lib', 'cellsh-helper'),
    policyFile: join(root, 'etc', 'policy.yaml'),
    policyDir: join(root, 'etc', 'policy.d'),
    compiledPolicy: join(root, 'var', 'lib', 'cellsh', 'policy.compiled'),
    stateDir: join(root, 'run'),
    logFile: join(root, 'log', 'cellsh.log'),
    sshdConfigDir: join(root, 'etc', 'ssh'),
    sshdPidFile: join(root, 'run', 'sshd.pid'),
    sshdConfig: join(root, 'etc', 'ssh', 'sshd_config'),
    sshdPam: join(root, 'etc', 'pam.d', 'sshd'),
  };
  return { layout, root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** Block devices of the sample host: /dev/sda (8:0) with a partition, and /dev/nvme0n1 (259:0). */
export function sampleDevices(path: string): DiskNumbers | string {
  const disks: Record<string, DiskNumbers> = {
    '/dev/sda': { major: 8, minor: 0 },
    '/dev/sda1': { major: 8, minor: 0 },
    '/dev/nvme0n1': { major: 259, minor: 0 },
  };
  return disks[path] ?? `${path} does not exist on this host`;
}

/** The env most policy tests use: sampleDirectory(), group "cellsh", host "box", sampleDevices. */
export function sampleEnv(): PolicyEnv {
  return { dir: sampleDirectory(), group: 'cellsh', host: 'box', devices: sampleDevices };
}

/** Build (load, resolve, compile) a policy given as text, named policy.yaml in messages. */
export function buildText(text: string, env: PolicyEnv = sampleEnv()): Built {
  return buildPolicy([{ file: 'policy.yaml', text }], env);
}

/** Every problem of a policy text as the line a person sees. */
export function problemsOf(text: string, env: PolicyEnv = sampleEnv()): string[] {
  return buildText(text, env).diagnostics.map(formatDiagnostic);
}

/** A collecting output stream. */
export function textSink(): { write(s: string): boolean; text(): string } {
  let buf = '';
  return {
    write: (s: string) => {
      buf += s;
      return true;
    },
    text: () => buf,
  };
}
