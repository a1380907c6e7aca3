// A host beyond this one, for what crosses the network: a network namespace
// joined to the host by a veth pair, with a TCP and a UDP service that answer
// with a text. The host's end of the pair is an address of the host's own (on
// an interface that is not loopback); the far end is not the host's.
import type { TestContext } from 'node:test';
import { spawn } from 'node:child_process';
import { must, run, waitFor } from './system.js';

export interface OutsideHost {
  /** Its network namespace, for \`ip netns exec\`. */
  readonly ns: string;
  /** The far end's address, not the host's. */
  readonly addr: string;
  /** The host's end of the link: one of the host's own addresses. */
  readonly hostAddr: string;
  /** Where the TCP and the UDP service listen, on addr. */
  readonly port: number;
  /** What both answer. */
  readonly text: string;
}

/** A TCP and a UDP service on host:port, each answering text (Python, so it
 * runs in a namespace without Node's start-up). */
export const ECHO_SERVICE = (host: string, port: number, text: string): string => `
import socket, threading
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((${JSON.stringify(host)}, ${port})); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(${JSON.stringify(`${text}\n`)}.encode()); c.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((${JSON.stringify(host)}, ${port}))
threading.Thread(target=tcp, daemon=True).start()
print("ready", flush=True)
while True:
    _, a = u.recvfrom(100); u.sendto(${JSON.stringify(text)}.encode(), a)
`;

/** Make the outside host (gone after t), with its services running. */
export async function outsideHost(t: TestContext, text: string): Promise<OutsideHost> {
  const tag = `${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const ns = `cellsh-t-out${tag}`;
  const [here, there] = [`ctoa${tag}`, `ctob${tag}`];
  // 198.51.100.0/24 is for documentation (RFC 5737): no real host has it.
  const octet = 4 * (1 + (Number(tag) % 60));
  const hostAddr = `198.51.100.${octet + 1}`;
  const addr = `198.51.100.${octet + 2}`;
  must('ip', ['netns', 'add', ns]);
  t.after(() => run('ip', ['netns', 'del', ns])); // takes the veth pair with it
  must('ip', ['link', 'add', here, 'type', 'veth', 'peer', 'name', there]);
  must('ip', ['link', 'set', there, 'netns', ns]);
  must('ip', ['addr', 'add', `${hostAddr}/30`, 'dev', here]);
  must('ip', ['link', 'set', here, 'up']);
  must('ip', ['-n', ns, 'addr', 'add', `${addr}/30`, 'dev', there]);
  must('ip', ['-n', ns, 'link', 'set', there, 'up']);
  must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  must('ip', ['-n', ns, 'route', 'add', 'default', 'via', hostAddr]);
  const port = 20000 + (Number(tag) % 20000);
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', ECHO_SERVICE(addr, port, text)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let said = '';
  child.stdout.on('data', (d: Buffer) => (said += d.toString()));
  await waitFor('the outside host to listen', () => said.includes('ready'), 10_000);
  return { ns, addr, hostAddr, port, text };
}
