// The libc calls Node lacks, through koffi. This is the only module that imports
// koffi: every declaration here has an explicit TypeScript signature.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

type Koffi = typeof import('koffi');

const koffi = loadKoffi();
const libc = koffi.load('libc.so.6');

/** koffi's entry script (index.js) also loads its download and build tools,
 * and with them Node's https, crypto and zlib: about 14 ms on every login that
 * needs libc. All we use is its native module, so on the two platforms it is
 * built for here that module is loaded directly, with the check koffi's entry
 * makes (the module's version is the package's); anywhere else, the entry. */
function loadKoffi(): Koffi {
  const entry = require.resolve('koffi');
  const triplet = `${process.platform}_${process.arch}`;
  if (triplet !== 'linux_x64' && triplet !== 'linux_arm64') return require('koffi') as Koffi;
  const root = dirname(entry);
  const native = require(join(root, 'build', 'koffi', triplet, 'koffi.node')) as Koffi & { version: string };
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  if (native.version !== version)
    throw new Error(`koffi's native module is version ${native.version}, its package ${version}: reinstall cellsh`);
  return native;
}

// ---- users and groups, through NSS (files, LDAP, sssd, ...) ----------------

/** A passwd entry. */
export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly gecos: string;
  readonly home: string;
  readonly shell: string;
}

/** A group entry. */
export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

// Each koffi.struct call registers the type name the prototypes below use.
koffi.struct('passwd', {
  pw_name: 'char *',
  pw_passwd: 'char *',
  pw_uid: 'uint32_t',
  pw_gid: 'uint32_t',
  pw_gecos: 'char *',
  pw_dir: 'char *',
  pw_shell: 'char *',
});
koffi.struct('group', {
  gr_name: 'char *',
  gr_passwd: 'char *',
  gr_gid: 'uint32_t',
  gr_mem: 'void *',
});
type RawPasswd = {
  pw_name: string;
  pw_uid: number;
  pw_gid: number;
  pw_gecos: string | null;
  pw_dir: string;
  pw_shell: string;
};
type RawGroup = { gr_name: string; gr_gid: number; gr_mem: unknown };

const getpwnamR = libc.func(
  'int getpwnam_r(const char *name, _Out_ passwd *pwd, uint8_t *buf, size_t len, _Out_ void **res)',
) as (name: string, pwd: object, buf: Buffer, len: number, res: unknown[]) => number;
const getpwuidR = libc.func(
  'int getpwuid_r(uint32_t uid, _Out_ passwd *pwd, uint8_t *buf, size_t len, _Out_ void **res)',
) as (uid: number, pwd: object, buf: Buffer, len: number, res: unknown[]) => number;
const getgrnamR = libc.func(
  'int getgrnam_r(const char *name, _Out_ group *grp, uint8_t *buf, size_t len, _Out_ void **res)',
) as (name: string, grp: object, buf: Buffer, len: number, res: unknown[]) => number;
const getgrgidR = libc.func(
  'int getgrgid_r(uint32_t gid, _Out_ group *grp, uint8_t *buf, size_t len, _Out_ void **res)',
) as (gid: number, grp: object, buf: Buffer, len: number, res: unknown[]) => number;
const getgrouplistC = libc.func(
  'int getgrouplist(const char *user, uint32_t group, _Inout_ uint32_t *groups, _Inout_ int *ngroups)',
) as (user: string, gid: number, groups: Uint32Array, ngroups: Int32Array) => number;
const setpwent = libc.func('void setpwent(void)') as () => void;
const endpwent = libc.func('void endpwent(void)') as () => void;
const getpwentR = libc.func('int getpwent_r(_Out_ passwd *pwd, uint8_t *buf, size_t len, _Out_ void **res)') as (
  pwd: object,
  buf: Buffer,
  len: number,
  res: unknown[],
) => number;
const setgrent = libc.func('void setgrent(void)') as () => void;
const endgrent = libc.func('void endgrent(void)') as () => void;
const getgrentR = libc.func('int getgrent_r(_Out_ group *grp, uint8_t *buf, size_t len, _Out_ void **res)') as (
  grp: object,
  buf: Buffer,
  len: number,
  res: unknown[],
) => number;

const ERANGE = 34;
const NSS_BUF_START = 16 * 1024;
/** A group of a few million members still fits (each costs its name and a pointer). */
const NSS_BUF_MAX = 256 * 1024 * 1024;

/** Call a *_r lookup, growing the buffer on ERANGE, and convert the entry
 * while the buffer its pointers point into is still referenced (a group's
 * member list is decoded from it: once buf is unreachable, GC may free it).
 * An enumeration passes one buffer for all its calls; ERANGE leaves the
 * enumeration where it is. */
function lookup<T, R>(
  call: (out: object, buf: Buffer, res: unknown[]) => number,
  convert: (raw: T) => R,
  reuse?: { buf: Buffer },
): R | undefined {
  for (
    let buf = reuse?.buf ?? Buffer.alloc(NSS_BUF_START);
    buf.length <= NSS_BUF_MAX;
    buf = Buffer.alloc(buf.length * 4)
  ) {
    if (reuse) reuse.buf = buf;
    const out = {};
    const res: unknown[] = [null];
    const rc = call(out, buf, res);
    if (rc === ERANGE) continue;
    if (rc !== 0 || res[0] === null) return undefined;
    const entry = convert(out as T);
    buf.readUInt8(0); // keeps buf alive until the entry is copied out
    return entry;
  }
  throw new Error(`an NSS entry is larger than ${NSS_BUF_MAX / 1024 / 1024} MiB`);
}

function toPasswd(p: RawPasswd): PasswdEntry {
  return { name: p.pw_name, uid: p.pw_uid, gid: p.pw_gid, gecos: p.pw_gecos ?? '', home: p.pw_dir, shell: p.pw_shell };
}

function toGroup(g: RawGroup): GroupEntry {
  const members: string[] = [];
  if (g.gr_mem !== null) {
    for (let i = 0; ; i++) {
      const s = koffi.decode(g.gr_mem, i * 8, 'char *') as string | null;
      if (s === null) break;
      members.push(s);
    }
  }
  return { name: g.gr_name, gid: g.gr_gid, members };
}

/** Look a user up by name. */
export function getpwnam(name: string): PasswdEntry | undefined {
  return lookup((out, buf, res) => getpwnamR(name, out, buf, buf.length, res), toPasswd);
}

/** Look a user up by uid. */
export function getpwuid(uid: number): PasswdEntry | undefined {
  return lookup((out, buf, res) => getpwuidR(uid, out, buf, buf.length, res), toPasswd);
}

/** Look a group up by name. */
export function getgrnam(name: string): GroupEntry | undefined {
  return lookup((out, buf, res) => getgrnamR(name, out, buf, buf.length, res), toGroup);
}

/** Look a group up by gid. */
export function getgrgid(gid: number): GroupEntry | undefined {
  return lookup((out, buf, res) => getgrgidR(gid, out, buf, buf.length, res), toGroup);
}

/** The groups a user is in (primary first), as initgroups(3) would set them. */
export function getgrouplist(user: string, gid: number): number[] {
  for (let n = 64; n <= 65536; n *= 4) {
    const groups = new Uint32Array(n);
    const count = new Int32Array([n]);
    if (getgrouplistC(user, gid, groups, count) >= 0) return Array.from(groups.subarray(0, count[0]));
  }
  throw new Error(`user ${user} is in more than 65536 groups`);
}

/** Every entry of one NSS database's enumeration (set*ent, get*ent_r, end*ent), one buffer for all. */
function enumerate<T, R>(
  open: () => void,
  next: (out: object, buf: Buffer, res: unknown[]) => number,
  convert: (raw: T) => R,
  close: () => void,
): R[] {
  const entries: R[] = [];
  const reuse = { buf: Buffer.alloc(NSS_BUF_START) };
  open();
  try {
    for (let e = lookup(next, convert, reuse); e !== undefined; e = lookup(next, convert, reuse)) entries.push(e);
  } finally {
    close();
  }
  return entries;
}

/** Every user NSS can enumerate (LDAP and sssd may list only some). */
export function listUsers(): PasswdEntry[] {
  return enumerate(setpwent, (out, buf, res) => getpwentR(out, buf, buf.length, res), toPasswd, endpwent);
}

/** Every group NSS can enumerate, with its members. */
export function listGroups(): GroupEntry[] {
  return enumerate(setgrent, (out, buf, res) => getgrentR(out, buf, buf.length, res), toGroup, endgrent);
}

// ---- the helper channel: a SOCK_SEQPACKET pair, and fds passed over it -----

const iovecT = koffi.struct('iovec', { iov_base: 'void *', iov_len: 'size_t' });
koffi.struct('msghdr', {
  msg_name: 'void *',
  msg_namelen: 'uint32_t',
  msg_iov: koffi.pointer(iovecT),
  msg_iovlen: 'size_t',
  msg_control: 'void *',
  msg_controllen: 'size_t',
  msg_flags: 'int',
});
type Msghdr = {
  msg_name: null;
  msg_namelen: number;
  msg_iov: Array<{ iov_base: Buffer; iov_len: number }>;
  msg_iovlen: number;
  msg_control: Buffer;
  msg_controllen: number;
  msg_flags: number;
};

const socketpairC = libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)') as (
  domain: number,
  type: number,
  protocol: number,
  sv: Int32Array,
) => number;
const recvmsgC = libc.func('intptr_t recvmsg(int fd, _Inout_ msghdr *msg, int flags)') as ((
  fd: number,
  msg: Msghdr,
  flags: number,
) => number | bigint) & {
  async: (fd: number, msg: Msghdr, flags: number, cb: (err: unknown, n: number | bigint) => void) => void;
};
const closeC = libc.func('int close(int fd)') as (fd: number) => number;

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0o2000000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const CMSG_HEADER = 16; // cmsg_len (size_t), cmsg_level (int), cmsg_type (int) on LP64
const MAX_MESSAGE = 4096;

/** A connected AF_UNIX SOCK_SEQPACKET pair, both ends close-on-exec. */
export function seqpacketPair(): [number, number] {
  const sv = new Int32Array(2);
  if (socketpairC(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) !== 0) throw errnoError('socketpair');
  return [sv[0]!, sv[1]!];
}

/** One message read from a channel: its text, and the fds it carried, in order. */
export interface ChannelMessage {
  readonly text: string;
  readonly fds: readonly number[];
}

/** The next message on a SEQPACKET socket; undefined at EOF. One already
 * there is taken at once, else it is waited for on a worker thread (Node's
 * exit waits for that thread: until the peer sends or closes). */
export function receiveMessage(fd: number): Promise<ChannelMessage | undefined> {
  const data = Buffer.alloc(MAX_MESSAGE);
  const control = Buffer.alloc(64);
  const msg: Msghdr = {
    msg_name: null,
    msg_namelen: 0,
    msg_iov: [{ iov_base: data, iov_len: data.length }],
    msg_iovlen: 1,
    msg_control: control,
    msg_controllen: control.length,
    msg_flags: 0,
  };
  const received = (n: number | bigint): ChannelMessage | undefined => {
    const len = Number(n);
    if (len < 0) throw errnoError('recvmsg');
    return len === 0
      ? undefined
      : { text: data.subarray(0, len).toString('utf8'), fds: fdsFromControl(control, msg.msg_controllen) };
  };
  return new Promise((resolve, reject) => {
    const now = recvmsgC(fd, msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (Number(now) >= 0 || koffi.errno() !== EAGAIN) {
      try {
        return resolve(received(now));
      } catch (e) {
        return reject(e);
      }
    }
    msg.msg_controllen = control.length;
    recvmsgC.async(fd, msg, MSG_CMSG_CLOEXEC, (err, n) => {
      if (err) return reject(err);
      try {
        resolve(received(n));
      } catch (e) {
        reject(e);
      }
    });
  });
}

function fdsFromControl(control: Buffer, used: number): number[] {
  if (used < CMSG_HEADER + 4) return [];
  const len = Number(control.readBigUInt64LE(0));
  if (control.readInt32LE(8) !== SOL_SOCKET || control.readInt32LE(12) !== SCM_RIGHTS || len > used) return [];
  const fds: number[] = [];
  for (let off = CMSG_HEADER; off + 4 <= len; off += 4) fds.push(control.readInt32LE(off));
  return fds;
}

/** close(2) an fd Node does not own. */
export function closeFd(fd: number): void {
  closeC(fd);
}

// ---- children libuv did not start -------------------------------------------

const waitpidC = libc.func('int waitpid(int pid, _Out_ int *status, int options)') as (
  pid: number,
  status: Int32Array,
  options: number,
) => number;
const WNOHANG = 1;

/** If the child pid has ended, reap it and return its exit code (128+N for
 * signal N); undefined while it runs. For a child of this process that Node
 * did not spawn (libuv reaps only its own). */
export function reapChild(pid: number): number | undefined {
  const status = new Int32Array(1);
  const got = waitpidC(pid, status, WNOHANG);
  if (got < 0) throw errnoError('waitpid');
  if (got === 0) return undefined;
  const s = status[0]!;
  const signal = s & 0x7f;
  return signal === 0 ? (s >> 8) & 0xff : 128 + signal;
}

// ---- signals through a pidfd ------------------------------------------------

const syscall4 = libc.func('long syscall(long nr, int a, int b, void *c, unsigned int d)') as (
  nr: number,
  a: number,
  b: number,
  c: null,
  d: number,
) => number;
/** pidfd_send_signal(2): 424 on x86-64 and arm64 alike (the numbers every
 * architecture shares since Linux 5.1). */
const SYS_PIDFD_SEND_SIGNAL = 424;
const ESRCH = 3;

/** Send signal number sig to the process a pidfd refers to; false if it has
 * ended (a pidfd never names another process, however long it is held). */
export function pidfdSignal(pidfd: number, sig: number): boolean {
  if (syscall4(SYS_PIDFD_SEND_SIGNAL, pidfd, sig, null, 0) === 0) return true;
  if (koffi.errno() === ESRCH) return false;
  throw errnoError('pidfd_send_signal');
}

// ---- terminals -------------------------------------------------------------

koffi.struct('winsize', { ws_row: 'uint16_t', ws_col: 'uint16_t', ws_xpixel: 'uint16_t', ws_ypixel: 'uint16_t' });
const ioctlWinsize = libc.func('int ioctl(int fd, unsigned long req, const winsize *ws)') as (
  fd: number,
  req: number,
  ws: { ws_row: number; ws_col: number; ws_xpixel: number; ws_ypixel: number },
) => number;
const TIOCSWINSZ = 0x5414;

const tcgetattrC = libc.func('int tcgetattr(int fd, uint8_t *termios)') as (fd: number, t: Buffer) => number;
const tcsetattrC = libc.func('int tcsetattr(int fd, int when, const uint8_t *termios)') as (
  fd: number,
  when: number,
  t: Buffer,
) => number;
const cfmakerawC = libc.func('void cfmakeraw(uint8_t *termios)') as (t: Buffer) => void;
/** Room for glibc's struct termios (60 bytes on Linux). */
const TERMIOS_BYTES = 64;
const TCSANOW = 0;

/** Put a terminal in raw mode as cfmakeraw(3) does (output processing off too,
 * so relayed bytes pass unchanged); returns the settings to restore. */
export function makeRaw(fd: number): Buffer {
  const saved = Buffer.alloc(TERMIOS_BYTES);
  if (tcgetattrC(fd, saved) !== 0) throw errnoError('tcgetattr');
  const raw = Buffer.from(saved);
  cfmakerawC(raw);
  if (tcsetattrC(fd, TCSANOW, raw) !== 0) throw errnoError('tcsetattr');
  return saved;
}

/** Give a terminal back the settings makeRaw saved. */
export function restoreTerminal(fd: number, saved: Buffer): void {
  tcsetattrC(fd, TCSANOW, saved);
}

const ioctlInt = libc.func('int ioctl(int fd, unsigned long req, int arg)') as (
  fd: number,
  req: number,
  arg: number,
) => number;
const TIOCGPTPEER = 0x5441;
const O_RDONLY_NOCTTY_CLOEXEC = 0x100 | 0x80000;

/** Open the slave of a pty master through the master itself (TIOCGPTPEER: no
 * path lookup, so it works for a pty of another mount namespace); read-only,
 * never the controlling terminal. Returns the fd. */
export function openPtyPeer(master: number): number {
  const fd = ioctlInt(master, TIOCGPTPEER, O_RDONLY_NOCTTY_CLOEXEC);
  if (fd < 0) throw errnoError('ioctl(TIOCGPTPEER)');
  return fd;
}

const fcntlInt = libc.func('int fcntl(int fd, int cmd, int arg)') as (fd: number, cmd: number, arg: number) => number;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0x800;

/** Make reads of fd answer EAGAIN instead of waiting. */
export function setNonBlocking(fd: number): void {
  const flags = fcntlInt(fd, F_GETFL, 0);
  if (flags < 0 || fcntlInt(fd, F_SETFL, flags | O_NONBLOCK) !== 0) throw errnoError('fcntl(O_NONBLOCK)');
}

/** Set a terminal's window size (on a pty master this reaches the slave's programs as SIGWINCH). */
export function setWindowSize(fd: number, rows: number, cols: number): void {
  if (ioctlWinsize(fd, TIOCSWINSZ, { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 }) !== 0) {
    throw errnoError('ioctl(TIOCSWINSZ)');
  }
}

// ---- errors ----------------------------------------------------------------

function errnoError(call: string): Error {
  const code = koffi.errno();
  const err = new Error(`${call} failed (errno ${code})`) as Error & { errno: number };
  err.errno = code;
  return err;
}
