// SSH agent forwarding into the container without binding any host folder
// (SA-16): this session's socket inside the container (made by the helper, in
// the user's own /run/cellsh/agents) is relayed to the agent socket sshd made
// on the host, and the stable name "current" in that folder (the container's
// SSH_AUTH_SOCK) points at the newest session socket that still has a relay:
// the helper points it at each new session's socket before the program starts,
// and when this session ends the relay points it at another live one, if any.
import { closeSync, lstatSync, readdirSync, readlinkSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';

/** The only agent sockets relayed: the ones sshd makes, /tmp/ssh-XXXXXXXXXX/agent.PID. */
const SSHD_AGENT_SOCKET = /^\/tmp\/ssh-[A-Za-z0-9]{10}\/agent\.[0-9]+$/;
/** The stable name inside the container (AGENT_SOCK in src/helper/rootfs.h). */
const CURRENT = 'current';
/** How long a socket may take to accept before it counts as dead. */
const PROBE_TIMEOUT_MS = 300;

/** SSH_AUTH_SOCK if it is an agent socket sshd made for this user: in a 0700
 * folder of theirs, a socket of theirs. Anything else (a host service's socket
 * set through ~/.pam_environment, say) is never relayed into the container. */
export function hostAgentSocket(path: string | undefined, uid: number): string | undefined {
  if (!path || !SSHD_AGENT_SOCKET.test(path)) return undefined;
  try {
    const dir = lstatSync(dirname(path));
    const sock = lstatSync(path);
    if (!dir.isDirectory() || dir.uid !== uid || (dir.mode & 0o077) !== 0) return undefined;
    if (!sock.isSocket() || sock.uid !== uid) return undefined;
  } catch {
    return undefined;
  }
  return path;
}

/** The two sockets the relay joins, and the folder it keeps "current" in. */
export interface AgentEnds {
  /** Listening socket inside the container (fd). */
  readonly listener: number;
  /** /run/cellsh/agents inside the container (O_PATH fd). */
  readonly dir: number;
  /** sshd's agent socket on the host. */
  readonly host: string;
  /** This session's id: its socket is "<ms>-<session>.sock". */
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

  private async handOver(): Promise<void> {
    const own = this.ownName();
    if (!own) return;
    try {
      unlinkSync(`${this.folder}/${own}`);
    } catch {
      // already gone
    }
    if (this.currentTarget() !== own) return;
    for (const other of this.sockets().filter((n) => n !== own)) {
      if (await this.alive(other)) return this.pointAt(other);
    }
    try {
      unlinkSync(`${this.folder}/${CURRENT}`);
    } catch {
      // already gone
    }
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

  /** Session sockets in the folder, newest first (names start with the time). */
  private sockets(): string[] {
    try {
      return readdirSync(this.folder).filter((n) => /^\d+-[0-9a-f]{12}\.sock$/.test(n)).sort().reverse();
    } catch {
      return [];
    }
  }

  private ownName(): string | undefined {
    return this.sockets().find((n) => n.endsWith(`-${this.ends.session}.sock`));
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

  private alive(name: string): Promise<boolean> {
    return new Promise((resolve) => {
      const probe = connect(`${this.folder}/${name}`);
      const done = (ok: boolean): void => {
        probe.destroy();
        resolve(ok);
      };
      probe.setTimeout(PROBE_TIMEOUT_MS, () => done(false));
      probe.on('connect', () => done(true)).on('error', () => done(false));
    });
  }
}
