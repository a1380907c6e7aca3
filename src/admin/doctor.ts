// `cellsh-admin doctor`: look at the live system the way a login would meet it
// and report every way around the container that is open, and every limit the
// kernel can't apply (doctor-cgroups.ts), with the line to change. sshd is asked for each enrolled user's effective settings
// (`sshd -T -C user=...`), so Match blocks, includes and defaults all count.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Layout } from '../layout.js';
import { parseCompiled, type CompiledUser } from '../policy/index.js';
import { checkCgroups } from './doctor-cgroups.js';
import { checkNat, natHost } from './doctor-nat.js';
import { checkImages, hostImages } from './doctor-images.js';
import { checkLayers, hostLayers } from './doctor-layers.js';
import { ImageStore } from '../images/store.js';
import { STORE_USER, storeRange } from '../images/store-range.js';
import { getpwnam } from '../sys/libc.js';
import { untrustedPolicyFiles } from './installed.js';
import { enrolledUsers, type PasswdEntry, type UserDirectory } from '../sys/users.js';
import { SAFE_FORCED_SHELLS } from './enroll.js';
import type { TextOut } from './check.js';
import { pamCellshLines, pamEnvReaders } from './pam-stack.js';

/** ok: fine; warn: worth changing, not a way out; open: a way around the container; fail: broken. */
export type Status = 'ok' | 'warn' | 'open' | 'fail';

/** One thing doctor found. */
export interface Finding {
  readonly status: Status;
  readonly area: 'install' | 'policy' | 'sshd' | 'shell' | 'pam' | 'cgroup';
  readonly message: string;
  readonly fix?: string;
}

/** What doctor needs; the sshd runner and file paths are parameters for the tests. */
export interface DoctorOptions {
  readonly layout: Layout;
  readonly dir: UserDirectory;
  readonly sshdConfig: string;
  readonly pamFile: string;
  /** Run sshd with these arguments; undefined if there is no sshd. */
  readonly sshd: (args: string[]) => { status: number; out: string; err: string } | undefined;
  readonly out: TextOut;
  readonly json: boolean;
}

/** Settings that must be "no" for an enrolled user, what each would open, and whether it is a way out. */
const MUST_BE_NO: ReadonlyArray<[key: string, option: string, why: string, status: Status]> = [
  [
    'allowtcpforwarding',
    'AllowTcpForwarding',
    "port forwarding reaches the host's network and services (pam_cellsh is not in sshd's PAM stack to put it in the container's)",
    'open',
  ],
  [
    'allowstreamlocalforwarding',
    'AllowStreamLocalForwarding',
    "socket forwarding reaches the host's unix sockets",
    'open',
  ],
  [
    'x11forwarding',
    'X11Forwarding',
    "X11 forwarding opens a display in the host's network (pam_cellsh is not in sshd's PAM stack to put it in the container's)",
    'open',
  ],
  ['permittunnel', 'PermitTunnel', 'tun devices are made on the host', 'open'],
  ['permituserrc', 'PermitUserRC', '~/.ssh/rc is run for each login', 'warn'],
  [
    'permituserenvironment',
    'PermitUserEnvironment',
    '~/.ssh/environment sets variables for the login (cellsh drops them)',
    'warn',
  ],
];

/** Forwarding that pam_cellsh puts in the container's network, so the policy may open it. */
const JOINED_FORWARDS = new Map([
  ['allowtcpforwarding', 'TCP forwarding'],
  ['x11forwarding', 'X11 forwarding'],
]);

/** Run every check; returns the exit code (0 nothing open or broken, 1 otherwise). */
export function runDoctor(opts: DoctorOptions): number {
  const { users, compiled, findings: policyFindings } = servedUsers(opts);
  // A login shell other than cellsh is the first program sshd runs, on the host
  // and dynamically linked: variables PAM reads from the home reach its loader.
  const foreignShells = users.filter((u) => u.shell !== opts.layout.launcher).map((u) => u.name);
  const findings = [
    ...checkInstall(opts.layout),
    ...checkInside(join(opts.layout.libDir, 'cellsh-inside')),
    ...checkPolicyTrust(opts.layout),
    ...policyFindings,
    ...checkCgroups(opts.layout, compiled),
    ...checkNat(compiled, natHost),
    ...checkImages(
      compiled,
      hostImages(
        new ImageStore(opts.layout.imageStore),
        () => storeRange(getpwnam(STORE_USER)?.uid),
        () => opts.dir.allUsers().flatMap((u) => [u.uid, u.gid]),
      ),
    ),
    ...checkLayers(compiled, opts.layout.layerDir, hostLayers(opts.layout.layerDir)),
    ...checkSshd(opts, users, compiled),
    ...checkMatchAddress(opts.sshdConfig),
    ...checkPam(opts.pamFile, foreignShells),
    ...(users.length > 0 ? checkPamCellsh(opts.pamFile, opts.layout.libDir) : []),
  ];
  if (opts.json) {
    opts.out.write(`${JSON.stringify({ ok: !findings.some(bad), findings }, null, 2)}\n`);
  } else {
    for (const f of findings) {
      opts.out.write(`${f.status.padEnd(4)}  ${f.area.padEnd(7)}  ${f.message}\n`);
      if (f.fix) opts.out.write(`${' '.repeat(15)}fix: ${f.fix}\n`);
    }
    const count = (s: Status): number => findings.filter((f) => f.status === s).length;
    opts.out.write(`doctor: ${count('open')} open, ${count('fail')} broken, ${count('warn')} warnings\n`);
  }
  return findings.some(bad) ? 1 : 0;
}

function bad(f: Finding): boolean {
  return f.status === 'open' || f.status === 'fail';
}

function checkInstall(layout: Layout): Finding[] {
  try {
    const st = statSync(layout.helper);
    if (st.uid !== 0 || (st.mode & 0o4000) === 0) {
      return [
        {
          status: 'fail',
          area: 'install',
          message: `${layout.helper} is not setuid root: no one can log in`,
          fix: 'run install.sh again',
        },
      ];
    }
    if ((st.mode & 0o7777) !== 0o4750) {
      return [
        {
          status: 'warn',
          area: 'install',
          message: `${layout.helper} has mode ${(st.mode & 0o7777).toString(8)}, not 4750: users outside the cellsh group may run it`,
          fix: `chmod 4750 ${layout.helper}`,
        },
      ];
    }
    return [
      {
        status: 'ok',
        area: 'install',
        message: `${layout.helper} is setuid root, runnable by the ${layout.group} group only`,
      },
    ];
  } catch {
    return [{ status: 'fail', area: 'install', message: `${layout.helper} is missing`, fix: 'run install.sh again' }];
  }
}

/** cellsh-inside, which the helper runs as the user in every container: the helper
 * refuses it unless it is root's alone to write and unreadable by users, whom the
 * kernel then lets not trace it while it holds the pipe to the session's monitor
 * (src/helper/inside.c); fs.suid_dumpable=1 undoes that, so the helper keeps the
 * pipe from it and its failures reach the log without their reason. */
export function checkInside(path: string, suidDumpable = readSuidDumpable()): Finding[] {
  const finding = (status: Status, message: string, fix?: string): Finding => ({
    status,
    area: 'install',
    message,
    ...(fix ? { fix } : {}),
  });
  const dumpable =
    suidDumpable === '1'
      ? [
          finding(
            'warn',
            'fs.suid_dumpable is 1: users could trace cellsh-inside, so its failures are logged without their reason',
            "sysctl fs.suid_dumpable=0 (Debian's default)",
          ),
        ]
      : [];
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    return [finding('fail', `${path} is missing: no login can start`, 'run install.sh again'), ...dumpable];
  }
  const mode = st.mode & 0o7777;
  const fix = `chown root:root ${path} && chmod 0711 ${path}`;
  if (st.uid !== 0 || (mode & 0o022) !== 0)
    return [
      finding('fail', `${path} is not root's alone to write: the helper refuses it, so no login can start`, fix),
      ...dumpable,
    ];
  if ((mode & 0o044) !== 0)
    return [
      finding(
        'fail',
        `${path} has mode ${mode.toString(8)}, readable by users: the helper refuses it, so no login can start`,
        fix,
      ),
      ...dumpable,
    ];
  return [finding('ok', `${path} is root's, runnable but not readable by users`), ...dumpable];
}

function readSuidDumpable(): string {
  try {
    return readFileSync('/proc/sys/fs/suid_dumpable', 'utf8').trim();
  } catch {
    return '';
  }
}

/** Policy files apply would refuse to read: someone besides root could have written them. */
function checkPolicyTrust(layout: Layout): Finding[] {
  const problems = untrustedPolicyFiles(layout);
  if (problems.length === 0)
    return [{ status: 'ok', area: 'policy', message: "the policy files and the folders above them are root's alone" }];
  return problems.map((p) => ({
    status: 'fail',
    area: 'policy',
    message: `${p.file}: apply refuses it: ${p.reason}`,
    fix: p.fix,
  }));
}

/** Everyone cellsh serves: the group's members (whom the sshd drop-in matches)
 * and the users in the compiled policy (whom the helper serves). */
function servedUsers(opts: DoctorOptions): { users: PasswdEntry[]; compiled: CompiledUser[]; findings: Finding[] } {
  const byName = new Map(enrolledUsers(opts.dir, opts.layout.group).map((u) => [u.name, u]));
  const findings: Finding[] = [];
  let compiled: CompiledUser[] = [];
  try {
    compiled = parseCompiled(readFileSync(opts.layout.compiledPolicy));
    for (const c of compiled) {
      const u = opts.dir.user(c.name);
      if (u && !byName.has(u.name)) byName.set(u.name, u);
    }
  } catch (e) {
    findings.push({
      status: 'fail',
      area: 'install',
      message: `${opts.layout.compiledPolicy} can't be read (${(e as Error).message}): no one can log in`,
      fix: 'cellsh-admin apply',
    });
  }
  return { users: [...byName.values()].sort((a, b) => a.uid - b.uid), compiled, findings };
}

function checkSshd(opts: DoctorOptions, users: PasswdEntry[], compiled: readonly CompiledUser[]): Finding[] {
  if (users.length === 0)
    return [{ status: 'ok', area: 'sshd', message: 'no enrolled users: nothing to check for sshd' }];
  const findings: Finding[] = [];
  // With pam_cellsh in sshd's stack, TCP forwarding happens in the container's network.
  const joins = pamCellshLines(opts.pamFile).length > 0;
  const networkOf = new Map(compiled.map((c) => [c.name, c.network]));
  for (const u of users) {
    const shell = u.shell;
    const r = opts.sshd(['-T', '-f', opts.sshdConfig, '-C', `user=${u.name},host=localhost,addr=127.0.0.1`]);
    if (!r)
      return [{ status: 'warn', area: 'sshd', message: 'no OpenSSH server installed: nothing to check for sshd' }];
    if (r.status !== 0) {
      findings.push({
        status: 'fail',
        area: 'sshd',
        message: `sshd -T failed for ${u.name}: ${r.err.trim().split('\n')[0]}`,
      });
      continue;
    }
    const forwardsIn = !joins ? 'none' : networkOf.get(u.name) === 'host' ? 'host-by-policy' : 'container';
    findings.push(...checkUser(u.name, shell, settingsOf(r.out), opts, forwardsIn));
  }
  return findings;
}

/** sshd -T prints "key value..." lines, keys in lower case; several lines may share a key. */
function settingsOf(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const key = line.slice(0, sp);
    map.set(key, [...(map.get(key) ?? []), line.slice(sp + 1)]);
  }
  return map;
}

function checkUser(
  name: string,
  shell: string,
  cfg: Map<string, string[]>,
  opts: DoctorOptions,
  pamJoins: 'container' | 'host-by-policy' | 'none',
): Finding[] {
  const { launcher, group } = opts.layout;
  const where = `under "Match Group ${group}" in /etc/ssh/sshd_config.d/cellsh.conf (install.sh writes it)`;
  const found: Finding[] = [];
  const forced = cfg.get('forcecommand')?.[0] ?? 'none';
  const internalSftp = (cfg.get('subsystem') ?? []).some((s) => /^sftp\s+internal-sftp\b/.test(s));
  if (forced === launcher) {
    if (shell !== launcher && !SAFE_FORCED_SHELLS.includes(shell)) {
      found.push({
        status: 'open',
        area: 'shell',
        message: `${name}'s login shell ${shell} runs first, on the host, and reads files from the home before cellsh starts (e.g. bash's ~/.bashrc)`,
        fix: `cellsh-admin enroll ${name} (cellsh as login shell), or chsh -s /bin/sh ${name}`,
      });
    } else if (shell !== launcher) {
      found.push(...checkKeptShell(name, shell, cfg));
    } else {
      found.push({
        status: 'ok',
        area: 'sshd',
        message: `${name}: every ssh session goes through cellsh (ForceCommand, login shell ${shell})`,
      });
    }
  } else if (forced !== 'none') {
    found.push({
      status: 'open',
      area: 'sshd',
      message: `${name}: ForceCommand "${forced}" runs on the host instead of cellsh`,
      fix: `"ForceCommand ${launcher}" ${where}`,
    });
  } else if (shell !== launcher) {
    found.push({
      status: 'open',
      area: 'sshd',
      message: `${name}: ssh sessions run the login shell ${shell} on the host, not cellsh`,
      fix: `"ForceCommand ${launcher}" ${where}`,
    });
  } else if (internalSftp) {
    found.push({
      status: 'open',
      area: 'sshd',
      message: `${name}: sftp is served by sshd itself on the host (Subsystem sftp internal-sftp)`,
      fix: `"ForceCommand ${launcher}" ${where}`,
    });
  } else {
    found.push({ status: 'ok', area: 'sshd', message: `${name}: ssh sessions go through cellsh (login shell)` });
  }
  for (const [key, option, why, status] of MUST_BE_NO) {
    const value = cfg.get(key)?.[0];
    if (JOINED_FORWARDS.has(key) && pamJoins !== 'none' && value !== undefined && value !== 'no') {
      found.push({
        status: 'ok',
        area: 'sshd',
        message:
          pamJoins === 'container'
            ? `${name}: ${JOINED_FORWARDS.get(key)} (${value}) happens in their container's network (pam_cellsh)`
            : `${name}: ${JOINED_FORWARDS.get(key)} (${value}) happens in the host's network, which their policy gives them (network: host)`,
      });
    } else if (value !== undefined && value !== 'no') {
      found.push({
        status,
        area: 'sshd',
        message: `${name}: ${option} is ${value}: ${why}`,
        fix: `"${option} no" ${where}`,
      });
    }
  }
  return found;
}

/** Variable names sshd may take from the client that no loader or shell acts on. */
const SAFE_ACCEPTENV = /^(LANG|LANGUAGE|LC_\*|LC_[A-Z_]+|TZ|COLORTERM)$/;

/** A ForceCommand user who kept a host shell (enroll --keep-shell): that shell
 * runs first, on the host, with whatever environment sshd lets the client send. */
function checkKeptShell(name: string, shell: string, cfg: Map<string, string[]>): Finding[] {
  const accepted = (cfg.get('acceptenv') ?? []).flatMap((v) => v.split(/\s+/)).filter((p) => p !== '');
  const risky = accepted.filter((p) => !SAFE_ACCEPTENV.test(p));
  const found: Finding[] = [
    {
      status: 'ok',
      area: 'sshd',
      message: `${name}: every ssh session goes through cellsh (ForceCommand, login shell ${shell})`,
    },
  ];
  if (risky.length > 0) {
    found.push({
      status: 'open',
      area: 'sshd',
      message: `${name}: AcceptEnv ${risky.join(' ')} lets the client set variables such as LD_PRELOAD for ${shell}, which runs on the host before cellsh`,
      fix: `"AcceptEnv LANG LC_*" for ${name} in sshd_config, or cellsh-admin enroll ${name} (cellsh as login shell)`,
    });
  }
  found.push({
    status: 'warn',
    area: 'shell',
    message: `${name}'s login shell is ${shell}: su, the console and other PAM services give a shell on the host, outside the container`,
    fix: `cellsh-admin enroll ${name} (cellsh as login shell) unless that is intended`,
  });
  return found;
}

/** sshd -T is asked for a connection from 127.0.0.1 only; Match blocks keyed on
 * the client's or the server's address or port may give other clients more. */
function checkMatchAddress(sshdConfig: string): Finding[] {
  const files = [sshdConfig];
  try {
    const d = join(dirname(sshdConfig), 'sshd_config.d');
    files.push(
      ...readdirSync(d)
        .filter((n) => n.endsWith('.conf'))
        .map((n) => join(d, n)),
    );
  } catch {
    // no drop-in folder
  }
  const found: Finding[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    text.split('\n').forEach((line, i) => {
      if (/^\s*Match\b.*\b(Address|Host|LocalAddress|LocalPort|RDomain)\b/i.test(line)) {
        found.push({
          status: 'warn',
          area: 'sshd',
          message: `${file}:${i + 1} "${line.trim()}" is checked here for a client at 127.0.0.1 only`,
          fix: `check it by hand: sshd -T -C user=NAME,addr=CLIENT,host=NAME,laddr=ADDR,lport=PORT`,
        });
      }
    });
  }
  return found;
}

function checkPam(file: string, foreignShells: string[]): Finding[] {
  return pamEnvReaders(file).map(({ file: f, line }): Finding => {
    const where = `${f}:${line} reads each user's ~/.pam_environment (user_readenv=1)`;
    return foreignShells.length > 0
      ? {
          status: 'open',
          area: 'pam',
          message: `${where}, so e.g. LD_PRELOAD set there acts in the login shell of ${foreignShells.join(', ')}, on the host, before cellsh starts`,
          fix: `change user_readenv=1 to user_readenv=0 on ${f}:${line}, or make cellsh their login shell (cellsh-admin enroll NAME)`,
        }
      : {
          status: 'warn',
          area: 'pam',
          message: `${where}; cellsh, the login shell of every enrolled user, drops those variables, but nothing should read them`,
          fix: `change user_readenv=1 to user_readenv=0 on ${f}:${line}`,
        };
  });
}

/** Is pam_cellsh in sshd's session stack, and does the module it names exist? */
export function checkPamCellsh(pamFile: string, libDir: string): Finding[] {
  const lines = pamCellshLines(pamFile);
  if (lines.length === 0)
    return [
      {
        status: 'warn',
        area: 'pam',
        message: `pam_cellsh is not in ${pamFile}: ssh forwarding can't be put in cellsh users' containers, so it must stay closed`,
        fix: 'run install.sh again (it adds pam_cellsh before "@include common-session")',
      },
    ];
  return lines.map(({ file, line, module }): Finding => {
    const path = module.startsWith('/') ? module : join(libDir, module);
    return existsSync(path)
      ? {
          status: 'ok',
          area: 'pam',
          message: `${file}:${line}: sshd's sessions of cellsh users join their container's network`,
        }
      : {
          status: 'fail',
          area: 'pam',
          message: `${file}:${line} names ${path}, which is missing: every ssh session is refused`,
          fix: 'run install.sh again',
        };
  });
}
