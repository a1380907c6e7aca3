// SSH agent forwarding into the container without binding any host folder
// (SA-16): this session's socket inside the container (made by the helper, in
// the user's own /run/cellsh/agents) is relayed to the agent socket sshd made
// on the host, and the stable name "current" in that folder (the container's
// SSH_AUTH_SOCK) points at the newest session socket that still has a relay:
// the helper points it at each new session's socket before the program starts,
// and when this session ends the relay points it at another live one, if any.
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { basename, dirname } from 'node:path';
import { fdPath, O_PATH } from '../sys/own-file.js';

/** The only agent sockets relayed: the ones sshd makes, /tmp/ssh-XXXXXXXXXX/agent.PID. */
const SSHD_AGENT_SOCKET = /^\/tmp\/ssh-[A-Za-z0-9]{10}\/agent\.[0-9]+$/;
/** The stable name inside the container (AGENT_SOCK in src/helper/rootfs.h). */
const CURRENT = 'current';
/** A session's socket name, as the helper makes it. */
const SESSION_SOCKET = /^\d+-[0-9a-f]{12}\.sock$/;
/** How long a socket may take to accept before it counts as dead. */
const PROBE_TIMEOUT_MS = 300;

/** SSH_AUTH_SOCK if it is an agent socket sshd made for this user: in a 0700
 * folder of theirs, a socket of theirs. Anything else (a host service's socket
 * set through ~/.pam_environment, say) is never relayed into the container.
 * The folder and the socket are opened O_PATH without following links and
 * checked through their fds; what comes back is the socket's /proc/self/fd
 * path, which names that checked socket for as long as this process lives, so
 * the relay connects to it every time, whatever the user renames or links at
 * the original path later. The O_PATH fd stays open until this login exits. */
export function hostAgentSocket(path: string | undefined, uid: number): string | undefined {
  if (!path || !SSHD_AGENT_SOCKET.test(path)) return undefined;
  let dir: number | undefined;
  let sock: number | undefined;
  try {
    // /tmp is root's; its ssh-XXXXXXXXXX child is the user's and must not be a link.
    dir = openSync(dirname(path), O_PATH | constants.O_NOFOLLOW);
    const d = fstatSync(dir);
    if (!d.isDirectory() || d.uid !== uid || (d.mode & 0o077) !== 0) return undefined;
    sock = openSync(`${fdPath(dir)}/${basename(path)}`, O_PATH | constants.O_NOFOLLOW);
    const s = fstatSync(sock);
    if (!s.isSocket() || s.uid !== uid) return undefined;
    const checked = fdPath(sock);
    sock = undefined; // kept open: the path above names it
    return checked;
  } catch {
    return undefined;
  } finally {
    if (dir !== undefined) closeSync(dir);
    if (sock !== undefined) closeSync(sock);
  }
}

/** The two sockets the relay joins, and the folder it keeps "current" in. */
export interface AgentEnds {
  /** Listening socket inside the container (fd). */
  readonly listener: number;
  /** /run/cellsh/agents inside the container (O_PATH fd). */
  readonly dir: number;
  /** This session's socket in that folder, "<ms>-<session>.sock" (named by the helper). */
  readonly name: string;
  /** sshd's agent socket on the host, as hostAgentSocket gave it (a /proc/self/fd path). */
  readonly host: string;
  /** This session's id. */
  readonly session: string;
}

/** A running relay; stop() takes it down and hands "current" on. */
export class AgentRelay {
  private readonly server: Server;
  private readonly conns = new Set<Socket>();
  private readonly folder: string;

  constructor(private readonly ends: AgentEnds) {
    this.folder = `/proc/self/fd/${ends.dir}`;
    this.server = createServer((inner) => this.relay(inner));
    this.server.on('error', () => undefined);
  }

  /** Accept connections (the helper already made this session's socket the current one). */
  start(): void {
    this.server.listen({ fd: this.ends.listener });
  }

  /** Stop relaying; remove this session's socket; point "current" at another live one. */
  async stop(): Promise<void> {
    this.server.close();
    for (const c of this.conns) c.destroy();
    try {
      await this.handOver();
    } finally {
      closeSync(this.ends.dir);
    }
  }

  /** The folder is the container user's: every name in it is looked at without
   * following links, and a socket is probed through an fd, never by a path the
   * host would resolve. Sockets whose session died (SIGKILL) are removed. */
  private async handOver(): Promise<void> {
    this.remove(this.ends.name);
    if (this.currentTarget() !== this.ends.name) return;
    for (const other of this.sockets()) {
      const state = await this.probe(other);
      if (state === 'live') return this.pointAt(other);
      if (state === 'dead') this.remove(other);
    }
    this.remove(CURRENT);
  }

  private relay(inner: Socket): void {
    const outer = connect(this.ends.host);
    const close = (): void => {
      inner.destroy();
      outer.destroy();
      this.conns.delete(inner);
      this.conns.delete(outer);
    };
    this.conns.add(inner).add(outer);
    for (const s of [inner, outer]) s.on('error', close).on('close', close);
    inner.pipe(outer);
    outer.pipe(inner);
  }

  /** Other sessions' sockets in the folder, newest first (names start with the time). */
  private sockets(): string[] {
    try {
      return readdirSync(this.folder)
        .filter((n) => SESSION_SOCKET.test(n) && n !== this.ends.name)
        .sort()
        .reverse();
    } catch {
      return [];
    }
  }

  /** Unlink a name in the folder (unlink never follows a link). */
  private remove(name: string): void {
    try {
      unlinkSync(`${this.folder}/${name}`);
    } catch {
      // already gone
    }
  }

  private currentTarget(): string | undefined {
    try {
      return readlinkSync(`${this.folder}/${CURRENT}`);
    } catch {
      return undefined;
    }
  }

  /** Point "current" at name, atomically (a new link renamed over the old). */
  private pointAt(name: string): void {
    const tmp = `${this.folder}/.${CURRENT}.${this.ends.session}`;
    try {
      symlinkSync(name, tmp);
      renameSync(tmp, `${this.folder}/${CURRENT}`);
    } catch {
      // the container is going away
    }
  }

  /** Does a session still accept on this socket? Opened with O_PATH|O_NOFOLLOW
   * (a link planted under a session name is not a socket and counts as dead),
   * then connected to through /proc/self/fd, so no path is resolved on the host.
   * "dead" only when nobody listens; a slow answer is "unknown" and left alone. */
  private probe(name: string): Promise<'live' | 'dead' | 'unknown'> {
    let fd: number;
    try {
      fd = openSync(`${this.folder}/${name}`, O_PATH | constants.O_NOFOLLOW);
    } catch {
      return Promise.resolve('unknown');
    }
    if (!fstatSync(fd).isSocket()) {
      closeSync(fd);
      return Promise.resolve('dead');
    }
    return new Promise((resolve) => {
      const probe = connect(`/proc/self/fd/${fd}`);
      let settled = false;
      const done = (answer: 'live' | 'dead' | 'unknown'): void => {
        if (settled) return;
        settled = true;
        probe.destroy();
        closeSync(fd);
        resolve(answer);
      };
      probe.setTimeout(PROBE_TIMEOUT_MS, () => done('unknown'));
      probe.on('connect', () => done('live'));
      probe.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'dead' : 'unknown'));
    });
  }
}
