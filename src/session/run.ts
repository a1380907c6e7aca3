// One login, from the Node side: decide how the terminal is handled, start the
// helper, relay, and come back with the program's exit status.
//
//   stdin and stdout are terminals  -> an inner pty (allocated in the
//     container) replaces every terminal among fds 0-2; we relay it.
//   otherwise                        -> no pty: non-terminal fds go straight
//     through (byte-exact, e.g. sshd's pipes); a terminal fd, if any, is
//     replaced by a pipe we relay, so no outside terminal reaches inside.
import { isatty } from 'node:tty';
import type { StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { startHelper, type RunningHelper, type Started } from '../helper-client/client.js';
import type { AgentRelay } from './agent.js';
import type { HelperRequest } from '../helper-client/protocol.js';
import type { Invocation } from './invocation.js';

/** Signals cellsh passes on to the session (through the helper's monitor). */
const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2'];
/** How long pipe relays may keep draining after the program exited. */
const PIPE_DRAIN_MS = 200;

/** How to start the helper for this session. */
interface Start {
  readonly helper: string;
  readonly req: HelperRequest;
  readonly ttys: readonly boolean[];
  /** sshd's agent socket on the host, when the session forwards one. */
  readonly agent: string | undefined;
  /** The user's own settings (--set KEY=VALUE). */
  readonly sets: readonly string[];
}

/** Run the invocation in the user's container; resolves with the exit status. */
export async function runSession(helper: string, inv: Invocation, sets: readonly string[] = []): Promise<number> {
  const req: HelperRequest = inv.kind === 'login' ? { verb: 'login' } : { verb: 'run', command: inv.command };
  const ttys = [0, 1, 2].map((fd) => isatty(fd));
  const sock = process.env['SSH_AUTH_SOCK'];
  // The agent relay is loaded only for sessions that forward one.
  const agent = sock ? (await import('./agent.js')).hostAgentSocket(sock, process.getuid!()) : undefined;
  const start: Start = { helper, req, ttys, agent, sets };
  return ttys[0] && ttys[1] ? runWithPty(start) : runWithPipes(start);
}

async function runWithPty({ helper, req, ttys, agent, sets }: Start): Promise<number> {
  const mask = ttys.reduce((m, t, fd) => (t ? m | (1 << fd) : m), 0);
  // Terminals are replaced by /dev/null; stderr by a pipe so the helper's own
  // messages still reach the person. Non-terminal fds pass straight through.
  const stdio: StdioOptions & unknown[] = [
    ttys[0] ? 'ignore' : 'inherit',
    ttys[1] ? 'ignore' : 'inherit',
    ttys[2] ? 'pipe' : 'inherit',
  ];
  const out = process.stdout;
  const proc = await startHelper(helper, req, stdio, {
    pty: { mask, rows: out.rows || 24, cols: out.columns || 80 },
    agent: agent !== undefined,
    sets,
  });
  return relayTerminal(proc, agent);
}

/** Relay a terminal session until it ends, whether its helper was started
 * here or by the launcher (src/cli/attached.ts); resolves with its exit status. */
export async function relayTerminal(proc: RunningHelper, agent: string | undefined = undefined): Promise<number> {
  const { TerminalRelay } = await import('./relay.js');
  // The helper's own lines, to its end: its last (a refusal, a stop notice)
  // come just before it exits, maybe before this Node has even started.
  const helperSaid = proc.stderr ? pipeUntilEnd(proc.stderr, process.stderr) : Promise.resolve();
  const unforward = forwardSignals(proc);
  try {
    // A quick program may end before its "started" is read: the channel still
    // holds it (and the master with its output) until the helper is gone.
    const started =
      (await Promise.race([proc.started, proc.exited.then(() => undefined)])) ??
      (await Promise.race([proc.started, sleep(PIPE_DRAIN_MS).then(() => undefined)]));
    if (!started || started.master === undefined) return await proc.exited;
    const agentRelay = await startAgent(started, agent);
    const relay = new TerminalRelay({
      master: started.master,
      input: process.stdin,
      output: process.stdout,
      terminalFd: 0,
    });
    process.once('SIGHUP', () => relay.hangup());
    try {
      relay.start();
      const status = await proc.exited;
      await relay.finish();
      return status;
    } finally {
      relay.dispose();
      await agentRelay?.stop();
    }
  } finally {
    unforward();
    await Promise.race([helperSaid, sleep(PIPE_DRAIN_MS)]);
  }
}

async function runWithPipes({ helper, req, ttys, agent, sets }: Start): Promise<number> {
  const stdio: StdioOptions & unknown[] = ttys.map((t) => (t ? 'pipe' : 'inherit'));
  const proc = await startHelper(helper, req, stdio, { agent: agent !== undefined, sets });
  const relays: Array<Promise<void>> = [];
  if (proc.child.stdin && ttys[0]) process.stdin.pipe(proc.child.stdin).on('error', () => undefined);
  if (proc.child.stdout) relays.push(pipeUntilEnd(proc.child.stdout, process.stdout));
  if (proc.child.stderr) relays.push(pipeUntilEnd(proc.child.stderr, process.stderr));
  const unforward = forwardSignals(proc);
  try {
    const started = agent ? await Promise.race([proc.started, proc.exited.then(() => undefined)]) : undefined;
    const agentRelay = started ? await startAgent(started, agent) : undefined;
    try {
      const status = await proc.exited;
      await Promise.race([Promise.all(relays), sleep(PIPE_DRAIN_MS)]);
      if (ttys[0]) process.stdin.unpipe().pause();
      return status;
    } finally {
      await agentRelay?.stop();
    }
  } finally {
    unforward();
  }
}

/** Relay the session's agent socket inside the container to sshd's, if both exist. */
async function startAgent(started: Started, host: string | undefined): Promise<AgentRelay | undefined> {
  if (!started.agent || !host) return undefined;
  const { AgentRelay } = await import('./agent.js');
  const relay = new AgentRelay({ ...started.agent, host, session: started.session });
  relay.start();
  return relay;
}

function pipeUntilEnd(from: Readable, to: Writable): Promise<void> {
  return new Promise((resolve) => {
    from.on('end', resolve).on('error', () => resolve());
    from.pipe(to, { end: false });
  });
}

function forwardSignals(proc: RunningHelper): () => void {
  const handler = (sig: NodeJS.Signals): void => {
    proc.kill(sig);
  };
  for (const sig of FORWARDED_SIGNALS) process.on(sig, handler);
  return () => {
    for (const sig of FORWARDED_SIGNALS) process.off(sig, handler);
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
