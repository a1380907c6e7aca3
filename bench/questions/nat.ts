// What network: private costs: the NAT (slirp4netns, as cellsh-nat) between
// the container and a host beyond this one. A download from a server on that
// host (a network namespace on a veth pair, so the bytes cross a real link),
// timed first byte to last by the client: inside a private container, inside a
// network: host container, and from a plain account on the host. The NAT's
// memory, idle and after the downloads. Commands run through `su -`, so the
// cellsh rows take the login path (the launcher) into the container.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { mustApply } from '../../test/helpers/install.js';
import { outsideHost } from '../../test/helpers/outside-host.js';
import { createUser, removeUser, type TestUser } from '../../test/helpers/users.js';
import type { Bench } from '../context.js';
import { pss } from '../setup/memory.js';
import { fmtBytes, fmtRatio, type Table } from '../report.js';
import { stats } from '../stats.js';

const KINDS = ['private', 'host', 'plain'] as const;
type Kind = (typeof KINDS)[number];

/** A server on the outside host that sends mib MiB to each client, then closes. */
const SENDER = (addr: string, port: number, mib: number): string => `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('${addr}', ${port})); s.listen(16)
b = bytes(1 << 20)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    for i in range(${mib}): c.sendall(b)
    c.close()
`;

/** The client: MB/s from the first byte to the last, or "short N" if bytes went missing. */
const RECEIVER = (addr: string, port: number, mib: number): string =>
  `python3 -c "
import socket, time
c = socket.create_connection(('${addr}', ${port}), timeout=30)
first = got = len(c.recv(1 << 20)); t0 = time.monotonic()
while True:
    d = c.recv(1 << 20)
    if not d: break
    got += len(d)
t = time.monotonic() - t0
print('%.1f' % ((got - first) / t / 1e6) if got == ${mib} << 20 else 'short %d' % got)
"`;

/** The NAT of uid's container: the cellsh-nat process in its cgroup. */
function natPid(bench: Bench, uid: number): number | undefined {
  const pids = spawnSync('pgrep', ['-u', 'cellsh-nat', '-r', 'R,S,D'], { encoding: 'utf8' }).stdout.split('\n');
  return pids.map(Number).find((p) => {
    try {
      return p > 0 && readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`/${bench.inst.cgroupName}/u${uid}\n`);
    } catch {
      return false;
    }
  });
}

export async function measureNat(bench: Bench): Promise<Table> {
  const title = `network: private: a download from a host beyond this one through the NAT, and the NAT's memory`;
  if (spawnSync('getent', ['passwd', 'cellsh-nat']).status !== 0)
    return { title, head: ['what'], rows: [['not measured: the cellsh-nat account is missing']], notes: [] };
  const cleanups: Array<() => void> = [];
  const t = { after: (fn: () => void) => cleanups.push(fn) } as unknown as TestContext;
  try {
    const mib = bench.sizes.sshThruMiB * 4;
    const outside = await outsideHost(t, 'bench');
    const port = outside.port + 1;
    const child = spawn('ip', ['netns', 'exec', outside.ns, 'python3', '-c', SENDER(outside.addr, port, mib)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(() => child.kill('SIGKILL'));
    await new Promise<void>((r) => child.stdout.once('data', () => r()));

    const users: Record<Kind, TestUser> = {
      private: createUser(t, bench.inst, 'bnatp'),
      host: createUser(t, bench.inst, 'bnath'),
      plain: createUser(t, bench.inst, 'bnatq', { enrolled: false }),
    };
    cleanups.push(() => removeUser(bench.inst, users.plain.name));
    mustApply(
      bench.inst,
      `defaults: {}\nusers:\n  ${bench.users.settings.name}:\n    user_may_set: [env]\n  ${users.private.name}:\n    network: private\n  ${users.host.name}:\n    network: host\n`,
    );
    const su = (k: Kind, cmd: string): string =>
      spawnSync('su', ['-', users[k].name, '-c', cmd], { encoding: 'utf8', timeout: 120_000 }).stdout.trim();
    su('private', 'true'); // starts the container and its NAT
    const nat = natPid(bench, users.private.uid);
    const idle = nat ? pss(nat) : undefined;
    bench.progress(`nat: ${KINDS.length} accounts x ${bench.sizes.sshRuns} downloads of ${mib} MiB, interleaved`);
    const rates: Record<Kind, number[]> = { private: [], host: [], plain: [] };
    const failed: Record<Kind, string> = { private: '', host: '', plain: '' };
    for (let i = 0; i < bench.sizes.sshRuns + 1; i++) {
      for (const k of KINDS) {
        const out = su(k, RECEIVER(outside.addr, port, mib));
        if (/^\d/.test(out)) {
          if (i > 0) rates[k].push(Number(out)); // the first round warms up
        } else failed[k] ||= out || 'no answer';
      }
    }
    const busy = nat ? pss(nat) : undefined;
    const median = (k: Kind): number | undefined => stats(rates[k])?.median;
    const row = (k: Kind, what: string): string[] => {
      const m = median(k);
      const p = median('plain');
      return [
        what,
        m ? `${m.toFixed(1)} MB/s` : `not measured: ${failed[k]}`,
        m && p && k !== 'plain' ? `${fmtRatio(m, p)} the plain account` : '',
        `${rates[k].length}`,
      ];
    };
    return {
      title,
      head: ['what', 'median', 'against', 'runs'],
      rows: [
        row('private', 'cellsh user, `network: private` (slirp4netns between the container and the host)'),
        row('host', "cellsh user, `network: host` (the host's own stack)"),
        row('plain', 'plain account on the host'),
        [
          "the NAT's memory (PSS), idle / after the downloads",
          idle !== undefined && busy !== undefined ? `${fmtBytes(idle)} / ${fmtBytes(busy)}` : 'not measured',
          '',
          '',
        ],
      ],
      notes: [
        `Each run downloads ${mib} MiB over TCP from a server in another network namespace, joined to the host by a veth pair; the client (python3, started with \`su - USER -c\`) times the first byte to the last. The accounts take turns; the first round is not counted.`,
        'slirp4netns copies every byte through a socket of its own on the host, in user space: the gap to the plain account is that copy.',
      ],
    };
  } finally {
    for (const fn of cleanups.reverse()) {
      try {
        fn();
      } catch {
        // the next one still runs
      }
    }
  }
}
