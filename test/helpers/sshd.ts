// A real OpenSSH server for tests: Debian's sshd on 127.0.0.1 and a spare
// port, with its own host key and configuration (the private install's sshd
// drop-in included), key logins for cellsh-t-* users, and the real ssh, scp,
// sftp, rsync and git clients run as root against it. Stopped after the test.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { must, runAsync, type Result } from './system.js';
import { mustApply, type TestInstall } from './install.js';
import { createUser, type TestUser } from './users.js';
import { Terminal } from './terminal.js';

/** How the test server is set up. */
export interface SshdOptions {
  /** Include the drop-in install.sh wrote (ForceCommand and the closed features); default true. */
  readonly dropIn?: boolean;
  /** The sftp Subsystem line's command; default Debian's sftp-server. */
  readonly subsystem?: string;
  /** More global settings, placed before the drop-in (so they win over it). */
  readonly extra?: readonly string[];
  /** Lines after the drop-in (Match blocks of the test's own). */
  readonly after?: readonly string[];
  /** Log to this file (sshd -E) instead of a pipe to this process: for a caller
   * that blocks in spawnSync while sshd works (the bench), so sshd never blocks
   * on a full pipe. */
  readonly logFile?: string;
  /** Serve with the install's PAM stack and forwarding drop-in (install.sh writes
   * both under the private root, as it edits /etc/pam.d/sshd on a real host):
   * sshd then runs under a PAM service named after the test (OpenSSH 9.2 names its
   * service after argv[0], so the server is started through a link of that
   * name), whose file in /etc/pam.d is removed after the test. */
  readonly pam?: boolean;
}

/** Where Debian keeps the sftp server. */
export const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

/** Why ssh tests can't run here, or false. */
export function sshSkipReason(): string | false {
  for (const bin of [
    '/usr/sbin/sshd',
    '/usr/bin/ssh',
    '/usr/bin/scp',
    '/usr/bin/sftp',
    '/usr/bin/rsync',
    '/usr/bin/git',
    SFTP_SERVER,
  ]) {
    if (!existsSync(bin)) return `${bin} is not installed (test/run.sh installs openssh-server, rsync and git)`;
  }
  return false;
}

/** A TCP port on 127.0.0.1 that nothing listens on (just now). */
export async function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A running test sshd. */
export class TestSshd {
  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly config: string,
    readonly proc: ChildProcess,
  ) {}

  /** Start a server; it is stopped (by pid) and its folder removed after t. */
  static async start(t: TestContext, inst: TestInstall, opts: SshdOptions = {}): Promise<TestSshd> {
    const dir = mkdtempSync('/var/lib/cellsh-test-sshd-');
    must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
    must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cellsh-test-client', '-f', join(dir, 'client_key')]);
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation folder
    const port = await sparePort();
    const dropIn = join(inst.root, 'etc/ssh/sshd_config.d/cellsh.conf');
    // The server with the install's PAM stack reads the install's own sshd_config,
    // which apply checks with sshd -t before it reloads that server.
    const config = opts.pam ? join(inst.root, 'etc/ssh/sshd_config') : join(dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${join(dir, 'host_key')}`,
        // The install's own pid file for the server with its PAM stack: apply reloads that one.
        `PidFile ${opts.pam ? join(inst.root, 'run/sshd.pid') : join(dir, 'sshd.pid')}`,
        'UsePAM yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        'AuthorizedKeysFile .ssh/authorized_keys',
        'PrintMotd no',
        'LogLevel VERBOSE',
        'AcceptEnv LANG LC_*',
        `Subsystem sftp ${opts.subsystem ?? SFTP_SERVER}`,
        ...(opts.extra ?? []),
        ...(opts.pam ? [`Include ${join(inst.root, 'etc/ssh/sshd_config.d/cellsh-forwarding.conf')}`] : []),
        ...(opts.dropIn === false ? [] : [`Include ${dropIn}`]),
        ...(opts.after ?? []),
        '',
      ].join('\n'),
    );
    const logFile = opts.logFile;
    let program = '/usr/sbin/sshd';
    if (opts.pam) {
      const service = `cellsh-t-sshd-${port}`;
      const pamFile = join('/etc/pam.d', service);
      writeFileSync(pamFile, readFileSync(join(inst.root, 'etc/pam.d/sshd')), { mode: 0o644 });
      t.after(() => rmSync(pamFile, { force: true }));
      program = join(dir, service);
      symlinkSync('/usr/sbin/sshd', program);
    }
    const proc = spawn(program, ['-D', ...(logFile ? ['-E', logFile] : ['-e']), '-f', config], {
      stdio: ['ignore', 'ignore', logFile ? 'ignore' : 'pipe'],
    });
    let piped = '';
    proc.stderr?.on('data', (b: Buffer) => {
      piped += b.toString();
    });
    const log = (): string => {
      if (!logFile) return piped;
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    };
    t.after(() => {
      proc.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      if (opts.pam) {
        rmSync(join(inst.root, 'run/sshd.pid'), { force: true });
        rmSync(config, { force: true });
      }
    });
    const deadline = Date.now() + 10_000;
    while (!/Server listening on 127\.0\.0\.1 port/.test(log())) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`sshd did not start:\n${log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const sshd = new TestSshd(dir, port, config, proc);
    sshd.logText = log;
    return sshd;
  }

  /** What sshd has logged so far. */
  logText: () => string = () => '';

  /** Run action (which makes sshd reload, e.g. apply), then wait until sshd
   * listens again: a connection made before it re-read its configuration would
   * get the old one. */
  async reloadedBy<T>(action: () => T): Promise<T> {
    const listening = (): number => (this.logText().match(/Server listening on 127\.0\.0\.1 port/g) ?? []).length;
    const before = listening();
    const result = action();
    const deadline = Date.now() + 10_000;
    while (listening() === before) {
      if (Date.now() > deadline) throw new Error(`sshd did not reload:\n${this.logText()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return result;
  }

  /** The client's private key (root's, for the tests). */
  get key(): string {
    return join(this.dir, 'client_key');
  }

  /** Let the test's key log in as user (~/.ssh/authorized_keys, as sshd's StrictModes wants it). */
  authorize(user: TestUser, options = ''): void {
    const ssh = join(user.home, '.ssh');
    mkdirSync(ssh, { recursive: true, mode: 0o700 });
    chownSync(ssh, user.uid, user.gid);
    const keys = join(ssh, 'authorized_keys');
    writeFileSync(keys, `${options ? `${options} ` : ''}${readFileSync(`${this.key}.pub`, 'utf8')}`, { mode: 0o600 });
    chownSync(keys, user.uid, user.gid);
  }

  /** Options for one shared connection of user's (ControlMaster), closed after t. */
  controlMaster(t: TestContext, user: TestUser): string[] {
    const options = [
      '-o',
      'ControlMaster=auto',
      '-o',
      `ControlPath=${join(this.dir, 'cm-%r')}`,
      '-o',
      'ControlPersist=60',
    ];
    t.after(() => {
      void this.ssh(user, [], { options: [...options, '-O', 'exit'] });
    });
    return options;
  }

  /** The client options every connection uses. */
  clientOptions(): string[] {
    return [
      '-F',
      '/dev/null',
      '-i',
      this.key,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      'LogLevel=ERROR',
    ];
  }

  /** An ssh command line for -e (rsync) or GIT_SSH_COMMAND. */
  sshCommand(): string {
    return ['ssh', ...this.clientOptions(), '-p', String(this.port)].join(' ');
  }

  /** user@127.0.0.1 */
  target(user: TestUser): string {
    return `${user.name}@127.0.0.1`;
  }

  /** ssh [options] user@host [command...], pipes only (no tty). */
  ssh(
    user: TestUser,
    args: readonly string[],
    opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; options?: string[]; timeoutMs?: number } = {},
  ): Promise<Result> {
    return runAsync(
      'ssh',
      [...this.clientOptions(), ...(opts.options ?? []), '-p', String(this.port), this.target(user), ...args],
      {
        input: opts.input ?? '',
        env: opts.env ?? { PATH: '/usr/bin:/bin', HOME: '/root' },
        timeout: opts.timeoutMs ?? 120_000,
      },
    );
  }

  /** ssh -tt on a real terminal (node-pty), as a person would. */
  terminal(
    user: TestUser,
    args: readonly string[] = [],
    opts: { env?: NodeJS.ProcessEnv; options?: string[]; cols?: number; rows?: number } = {},
  ): Terminal {
    return Terminal.spawn(
      'ssh',
      [...this.clientOptions(), ...(opts.options ?? []), '-tt', '-p', String(this.port), this.target(user), ...args],
      {
        env: opts.env ?? { PATH: '/usr/bin:/bin', HOME: '/root', TERM: 'xterm-256color', LANG: 'C.UTF-8' },
        ...(opts.cols ? { cols: opts.cols } : {}),
        ...(opts.rows ? { rows: opts.rows } : {}),
      },
    );
  }
}

/** The two deployments the tests cover: cellsh as the passwd shell (sshd runs
 * "cellsh -c CMD" itself, no drop-in), and sshd's ForceCommand from the drop-in
 * with the user's passwd shell left as /bin/sh ("sh -c cellsh"). */
export async function deploy(
  t: TestContext,
  inst: TestInstall,
  mode: 'login-shell' | 'force-command',
  suffix: string,
): Promise<{ user: TestUser; sshd: TestSshd }> {
  const user = createUser(t, inst, suffix);
  if (mode === 'force-command') must('usermod', ['--shell', '/bin/sh', user.name]);
  mustApply(inst);
  const sshd = await TestSshd.start(t, inst, { dropIn: mode === 'force-command' });
  sshd.authorize(user);
  return { user, sshd };
}

/** rsync -a of a tree up and back, then git over ssh: a bare repository in the
 * home, cloned, pushed to and cloned again, all from a client folder `local`. */
export async function rsyncAndGit(sshd: TestSshd, user: TestUser, local: string): Promise<void> {
  const at = (path: string): string => `${sshd.target(user)}:${path}`;
  const env = { PATH: '/usr/bin:/bin', HOME: '/root', GIT_SSH_COMMAND: sshd.sshCommand() };
  const ok = async (what: string, p: Promise<Result>): Promise<void> => {
    const r = await p;
    assert.equal(r.status, 0, `${what}: ${r.out}${r.err}`);
  };
  mkdirSync(join(local, 'tree/sub'), { recursive: true });
  writeFileSync(join(local, 'tree/sub/f'), 'deep\n');
  await ok('rsync up', runAsync('rsync', ['-a', '-e', sshd.sshCommand(), join(local, 'tree'), at('rtree')], { env }));
  await ok(
    'rsync down',
    runAsync('rsync', ['-a', '-e', sshd.sshCommand(), at('rtree/'), join(local, 'rback')], { env }),
  );
  assert.equal(readFileSync(join(local, 'rback/tree/sub/f'), 'utf8'), 'deep\n');
  await ok('git init', sshd.ssh(user, ['git init -q --bare repo.git']));
  await ok('git clone', runAsync('git', ['clone', '-q', at('repo.git'), join(local, 'c1')], { env }));
  writeFileSync(join(local, 'c1/README'), 'pushed\n');
  const git = (...args: string[]): Promise<void> =>
    ok(
      `git ${args[0]}`,
      runAsync('git', ['-C', join(local, 'c1'), '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { env }),
    );
  await git('add', 'README');
  await git('commit', '-q', '-m', 'first');
  await git('push', '-q', 'origin', 'HEAD:main');
  await ok('git clone 2', runAsync('git', ['clone', '-q', '-b', 'main', at('repo.git'), join(local, 'c2')], { env }));
  assert.equal(readFileSync(join(local, 'c2/README'), 'utf8'), 'pushed\n');
}
