// network: private, through Debian's sshd as users reach it: the container's
// own network namespace with a user-mode NAT (slirp4netns, as the NAT's own
// account) to the host's network. A host beyond this one answers and names
// resolve; the host itself never does, by any of its addresses, by TCP or UDP,
// even from a socket bound to the NAT's interface, while a plain account on the
// same server reaches every one of them. Stopping the container ends its NAT.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { applyPolicy, mustApply, natSkipReason, skipReason, testInstall } from '../helpers/install.js';
import { outsideHost } from '../helpers/outside-host.js';
import { packageRoot } from '../helpers/fixtures.js';
import { asUser, createUser, type TestUser } from '../helpers/users.js';
import { must, processGone, run, waitFor, type Result } from '../helpers/system.js';
import { sshSkipReason, TestSshd } from '../helpers/sshd.js';

const inst = testInstall();
/** port-guard.c built as another installation would be (test/run.sh builds it). */
const OTHER_INSTALL = join(packageRoot(), 'build', 'test-port-guard');
const skip = skipReason(inst) || sshSkipReason() || natSkipReason();

/** A TCP and a UDP service of the host's on addr, answering text; closed after t. */
async function hostService(t: TestContext, addr: string, text: string): Promise<number> {
  const tcp = createServer((c) => c.end(`${text}\n`));
  await new Promise<void>((r) => tcp.listen(0, addr, r));
  const port = (tcp.address() as { port: number }).port;
  const udp = createSocket('udp4', (_m, from) => udp.send(text, from.port, from.address));
  await new Promise<void>((r) => udp.bind(port, addr, r));
  t.after(() => {
    tcp.close();
    udp.close();
  });
  return port;
}

/** Tries each "tcp|udp,address,port,device" at once; prints "spec answer" or "spec no: why". */
const PROBE = `
import socket, sys, threading
out = {}
def probe(spec):
    kind, addr, port, dev = spec.split(',')
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == 'tcp' else socket.SOCK_DGRAM)
        s.settimeout(3)
        if dev:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
        if kind == 'tcp':
            s.connect((addr, int(port))); got = s.recv(100)
        else:
            s.sendto(b'?', (addr, int(port))); got = s.recvfrom(100)[0]
        out[spec] = got.decode().strip()
    except OSError as e:
        out[spec] = 'no: ' + type(e).__name__
ts = [threading.Thread(target=probe, args=(a,)) for a in sys.argv[1:]]
[x.start() for x in ts]; [x.join() for x in ts]
for a in sys.argv[1:]:
    print(a, out[a])
`;

/** Run PROBE as user over ssh; the answer for each spec. */
async function probe(sshd: TestSshd, user: TestUser, specs: string[]): Promise<Map<string, string>> {
  const file = join(user.home, 'probe.py');
  writeFileSync(file, PROBE);
  chownSync(file, user.uid, user.gid);
  const r = await sshd.ssh(user, ['python3', 'probe.py', ...specs]);
  assert.equal(r.status, 0, r.err);
  return new Map(
    r.out
      .trim()
      .split('\n')
      .map((l) => l.split(/ (.*)/s).slice(0, 2) as [string, string]),
  );
}

/** The host's own addresses on interfaces other than loopback. */
const hostAddresses = (): string[] =>
  Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4' && !a.internal)
    .map((a) => a!.address);

/** The live NATs cellsh-nat runs for uid: those in the user's cgroup. */
const natPids = (uid: number): string[] =>
  run('pgrep', ['-u', 'cellsh-nat', '-r', 'R,S,D']) // not a zombie this machine's pid 1 has yet to reap
    .out.trim()
    .split('\n')
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/${inst!.cgroupName}/u${uid}\n`);
      } catch {
        return false; // gone meanwhile
      }
    });

test("network: private: a host beyond this one answers and names resolve; none of the host's own addresses answers, by TCP or UDP, even bound to the NAT's interface; a plain account reaches them all", {
  skip,
}, async (t) => {
  const outside = await outsideHost(t, 'from outside');
  const user = createUser(t, inst!, 'np1');
  const plain = createUser(t, inst!, 'np1p', { enrolled: false });
  mustApply(inst!, `users:\n  ${user.name}:\n    network: private\n`);
  const sshd = await TestSshd.start(t, inst!, { pam: true });
  sshd.authorize(user);
  sshd.authorize(plain);
  const loopback = await hostService(t, '127.0.0.1', 'host loopback');
  const anyAddr = await hostService(t, '0.0.0.0', 'host service');
  // Something on a loopback port 53 that is not the host's resolver: its datagrams are counted
  // where they arrive, since a reply could not get back into the container anyway.
  const port53: string[] = [];
  const dns53 = createSocket('udp4', (m) => port53.push(m.toString()));
  await new Promise<void>((r) => dns53.bind(53, '127.0.0.2', r));
  t.after(() => dns53.close());

  const beyond = [`tcp,${outside.addr},${outside.port},`, `udp,${outside.addr},${outside.port},`];
  const hostOwn: string[] = [];
  for (const dev of ['', 'tap0']) {
    for (const kind of ['tcp', 'udp']) {
      hostOwn.push(`${kind},127.0.0.1,${loopback},${dev}`, `${kind},127.0.0.1,${anyAddr},${dev}`);
      for (const a of [outside.hostAddr, ...hostAddresses()]) hostOwn.push(`${kind},${a},${anyAddr},${dev}`);
    }
  }
  // The NAT's gateway address, which slirp4netns would otherwise make the host's loopback.
  hostOwn.push(`tcp,10.0.2.2,${loopback},`, `udp,10.0.2.2,${loopback},`);

  // Control: a plain account on the same server reaches all of the host's and the outside host.
  const control = await probe(sshd, plain, [
    ...beyond,
    ...hostOwn.filter((s) => !s.endsWith('tap0') && !s.includes('10.0.2.2')),
  ]);
  for (const [spec, got] of control)
    assert.match(got, /^(host loopback|host service|from outside)$/, `plain account: ${spec}`);

  const control53 = await probe(sshd, plain, ['udp,127.0.0.2,53,']);
  assert.ok(
    port53.length > 0,
    `control: the plain account reaches 127.0.0.2:53 (${control53.get('udp,127.0.0.2,53,')})`,
  );
  port53.length = 0;
  const inside = await probe(sshd, user, [...beyond, ...hostOwn, 'udp,127.0.0.2,53,tap0', 'udp,127.0.0.2,53,']);
  assert.deepEqual(port53, [], "nothing from the container reaches a loopback port 53 that isn't the host's resolver");
  for (const spec of beyond) assert.equal(inside.get(spec), 'from outside', `private: ${spec}`);
  for (const spec of hostOwn) assert.match(inside.get(spec)!, /^no: /, `private: ${spec} must not answer`);

  const r = await sshd.ssh(user, ['cat /etc/resolv.conf; grep -c "^ *[a-z0-9]*:" /proc/net/dev']);
  assert.deepEqual(r.out.trim().split('\n'), ['nameserver 10.0.2.3', '2'], "loopback and the NAT's tap0");
  const name = 'deb.debian.org';
  if (
    await lookup(name).then(
      () => true,
      () => false,
    )
  ) {
    const dns = await sshd.ssh(user, [`getent hosts ${name}`]);
    assert.equal(dns.status, 0, `getent: ${dns.err}`);
    assert.match(dns.out, /\sdeb\.debian\.org$/m);
  } else t.diagnostic(`this host resolves no ${name}: DNS inside left unchecked`);

  // The NAT runs as cellsh-nat in the user's cgroup; stopping the container ends it.
  const [nat] = natPids(user.uid);
  assert.ok(nat, 'a NAT runs for the user');
  const status = readFileSync(`/proc/${nat}/status`, 'utf8');
  assert.match(status, /^NSpid:\s+\d+\s+1$/m, 'alone in a pid namespace of its own');
  assert.match(status, /^Seccomp_filters:\s+2$/m, "its sockets filter and slirp4netns's own");
  for (const ns of ['ipc', 'uts', 'cgroup', 'mnt'])
    assert.notEqual(
      readlinkSync(`/proc/${nat}/ns/${ns}`),
      readlinkSync(`/proc/self/ns/${ns}`),
      `its own ${ns} namespace`,
    );
  assert.deepEqual(
    readdirSync(`/proc/${nat}/root/`).sort(),
    ['bin', 'dev', 'etc', 'lib', 'lib32', 'lib64', 'ns', 'sbin', 'usr'].filter(
      (e) => existsSync(`/${e}`) || e === 'ns',
    ),
    'sees no /proc, /run, /home or /tmp',
  );
  const natFiles = (): string[] =>
    readdirSync(join(inst!.root, 'run/cellsh-nat')).filter((f) => f.startsWith(`${user.uid}-`));
  assert.equal(natFiles().length, 3, "the namespaces' files and the NAT's log (no API folder without ports)");
  must(inst!.admin, ['stop', user.name]);
  assert.deepEqual(natFiles(), []);
  await waitFor("the user's NAT to end", () => natPids(user.uid).length === 0, 10_000);
});

test("network: private: the NAT's firewall rule is put back at the next start after the host's ruleset was flushed", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'np3');
  mustApply(inst!, `users:\n  ${user.name}:\n    network: private\n`);
  const sshd = await TestSshd.start(t, inst!, { pam: true });
  sshd.authorize(user);
  const anyAddr = await hostService(t, '0.0.0.0', 'host service');
  const spec = `tcp,${hostAddresses()[0] ?? '127.0.0.1'},${anyAddr},`;
  run('nft', ['delete', 'table', 'inet', 'cellsh']);
  assert.notEqual(run('nft', ['list', 'table', 'inet', 'cellsh']).status, 0, 'the rule is gone');
  const got = await probe(sshd, user, [spec]);
  assert.match(got.get(spec)!, /^no: /);
  assert.equal(run('nft', ['list', 'table', 'inet', 'cellsh']).status, 0, 'the rule is back');
});

test("network: private: an ssh connection kept open across a stop starts the next container with its NAT in the host's network, and -W reaches a server inside", {
  skip,
}, async (t) => {
  const outside = await outsideHost(t, 'from outside');
  const user = createUser(t, inst!, 'np2');
  mustApply(inst!, `users:\n  ${user.name}:\n    network: private\n`);
  const sshd = await TestSshd.start(t, inst!, { pam: true });
  sshd.authorize(user);
  const spec = `tcp,${outside.addr},${outside.port},`;
  // One connection (ControlMaster), whose sshd session pam_cellsh puts in the first container's network.
  const master = sshd.controlMaster(t, user);
  const file = join(user.home, 'probe.py');
  writeFileSync(file, PROBE);
  chownSync(file, user.uid, user.gid);
  const first = await sshd.ssh(user, ['python3', 'probe.py', spec], { options: master });
  assert.equal(first.out.trim(), `${spec} from outside`, first.err);
  must(inst!.admin, ['stop', user.name]);
  run('nft', ['delete', 'table', 'inet', 'cellsh']);
  // The next session on that connection starts a new container from the old one's network,
  // and puts the firewall table back in the host's network, not in the old container's.
  const again = await sshd.ssh(user, ['python3', 'probe.py', spec], { options: master });
  assert.equal(again.out.trim(), `${spec} from outside`, again.err);
  assert.equal(run('nft', ['list', 'table', 'inet', 'cellsh']).status, 0, "the table is back in the host's network");
  // A new connection: -W to a web server in the container.
  const port = 20000 + ((process.pid + 61) % 10000);
  const web = await sshd.ssh(user, [
    `mkdir -p ~/www && echo private-inside > ~/www/index.html && (setsid python3 -m http.server ${port} --bind 127.0.0.1 --directory ~/www </dev/null >/dev/null 2>&1 &)`,
  ]);
  assert.equal(web.status, 0, web.err);
  const page = await waitFor(
    'the page through ssh -W',
    async () => {
      const w = await sshd.ssh(user, [], { options: ['-W', `127.0.0.1:${port}`], input: 'GET / HTTP/1.0\r\n\r\n' });
      return /private-inside/.test(w.out) ? w.out : false;
    },
    20_000,
  );
  assert.match(page, /^HTTP\/1\.0 200/);
});

/** What binding UDP port (0.0.0.0, then [::] dual-stack, each with SO_REUSEADDR, as libslirp does)
 * gives a local account on the host: "bound bound", or the errors. */
async function bindUdp(user: TestUser, port: number): Promise<string> {
  const script = `
import socket
out = []
for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        s.bind((addr, ${port}))
        out.append("bound")
    except OSError as e:
        out.append(e.strerror.replace(" ", "-"))
print(" ".join(out))
`;
  const r = await asUser(user, '/usr/bin/python3', ['-c', script]);
  assert.equal(r.status, 0, r.err);
  return r.out.trim();
}

/** Whether port is in the host's net.ipv4.ip_local_reserved_ports. */
function reservedPort(port: number): boolean {
  const list = readFileSync('/proc/sys/net/ipv4/ip_local_reserved_ports', 'utf8').trim();
  return list.split(',').some((r) => {
    const [lo, hi = lo] = r.split('-').map(Number);
    return lo !== undefined && hi !== undefined && port >= lo && port <= hi;
  });
}

test('network: private with publish.udp: mosh --port from a host beyond this one reaches mosh-server in the container, which no other port does; no other account may bind those ports', {
  skip: skip || (existsSync('/usr/bin/mosh') ? false : 'mosh is not installed (test/run.sh installs it)'),
}, async (t) => {
  const outside = await outsideHost(t, 'from outside');
  const user = createUser(t, inst!, 'np4');
  const plain = createUser(t, inst!, 'np4p', { enrolled: false });
  const port = 60000 + (process.pid % 400);
  mustApply(inst!, `users:\n  ${user.name}:\n    network: private\n    publish:\n      udp: ${port}-${port + 1}\n`);
  // From apply on, before any login, the ports are the NAT's: no other account of the host may bind
  // them, even sharing them with SO_REUSEADDR as libslirp binds them (which would take the user's
  // mosh traffic), nor be given one by an implicit bind. The next port is anyone's.
  assert.equal(await bindUdp(plain, port), 'Operation-not-permitted Operation-not-permitted', 'another account');
  assert.equal(
    await bindUdp(user, port + 1),
    'Operation-not-permitted Operation-not-permitted',
    'the user on the host',
  );
  assert.equal(await bindUdp(plain, port + 2), 'bound bound', 'a port outside the range');
  assert.ok(reservedPort(port) && reservedPort(port + 1) && !reservedPort(port + 2), 'ip_local_reserved_ports');
  const free = await asUser(user, inst!.helper, ['ports']);
  assert.equal(free.status, 77, `only root keeps or frees the ports: ${free.err}`);
  assert.equal(await bindUdp(plain, port), 'Operation-not-permitted Operation-not-permitted', 'still kept');
  // sshd also on the host's end of the link, where the outside host's mosh client connects.
  const sshd = await TestSshd.start(t, inst!, { pam: true, extra: [`ListenAddress ${outside.hostAddr}`] });
  sshd.authorize(user);
  const tmuxDir = mkdtempSync('/tmp/cellsh-t-tmux-');
  t.after(() => rmSync(tmuxDir, { recursive: true, force: true }));
  const tmux = join(tmuxDir, 'sock');
  const ssh = ['ssh', ...sshd.clientOptions(), '-p', String(sshd.port)].join(' ');
  const mosh = `LANG=C.UTF-8 mosh --ssh='${ssh}' --port=${port} --server='LANG=C.UTF-8 mosh-server' ${user.name}@${outside.hostAddr}`;
  must('ip', ['netns', 'exec', outside.ns, 'tmux', '-S', tmux, 'new-session', '-d', '-x', '100', '-y', '30', mosh]);
  // The tmux server (and the mosh client under it) ends by its pid, whatever else is gone by then.
  const tmuxPid = Number(must('tmux', ['-S', tmux, 'display-message', '-p', '#{pid}']).out.trim());
  t.after(() => {
    if (!processGone(tmuxPid)) process.kill(tmuxPid, 'SIGTERM');
  });
  const screen = (): string => run('tmux', ['-S', tmux, 'capture-pane', '-p']).out;
  await waitFor('the shell through mosh', () => screen().includes('$'), 30_000);
  must('tmux', ['-S', tmux, 'send-keys', 'echo mosh-$((6*7)) on $(hostname)', 'Enter']);
  const seen = await waitFor('the command through mosh', () => /mosh-42 on (\S+)/.exec(screen()) ?? false, 20_000);
  assert.equal(seen[1], user.name, "the container's hostname");
  const server = await sshd.ssh(user, ['pgrep -x mosh-server']);
  assert.equal(server.status, 0, 'mosh-server runs in the container');
  // The port is published into the container only: mosh-server there answers on it; the next one,
  // published too, has no server, and one beyond the range is not the NAT's at all.
  const ss = run('ss', ['-Huanp', `sport = :${port + 2}`]).out;
  assert.doesNotMatch(ss, /slirp4netns/, 'a port outside the range is not published');
  assert.match(run('ss', ['-Huanp', `sport = :${port}`]).out, /slirp4netns/);
  // The NAT's API socket lives on a tmpfs of its own, too small to fill /run.
  const api = readdirSync(join(inst!.root, 'run/cellsh-nat')).find(
    (f) => f.startsWith(`${user.uid}-`) && f.endsWith('.api'),
  );
  assert.ok(api, 'the API folder');
  const mount = run('findmnt', ['-no', 'FSTYPE,OPTIONS', join(inst!.root, 'run/cellsh-nat', api)]).out;
  assert.match(mount, /^tmpfs .*size=16k/, mount);
  assert.equal(await bindUdp(plain, port), 'Operation-not-permitted Operation-not-permitted', 'while the NAT holds it');
  // Giving those ports to another user while this container holds them: apply says so.
  const other = createUser(t, inst!, 'np4o');
  const moved = applyPolicy(
    inst!,
    `users:\n  ${user.name}:\n    network: private\n  ${other.name}:\n    network: private\n    publish:\n      udp: ${port}\n`,
  );
  assert.equal(moved.status, 0, moved.err);
  assert.match(
    moved.err,
    new RegExp(`${other.name}'s UDP ports ${port} are still held by the running container of ${user.name}`),
  );
  // The running NAT still publishes port + 1, which no policy gives now: it stays kept until the container ends.
  assert.equal(
    await bindUdp(plain, port + 1),
    'Operation-not-permitted Operation-not-permitted',
    'held by the running NAT',
  );
  must(inst!.admin, ['stop', user.name]);
  assert.equal(run('ss', ['-Huanp', `sport = :${port}`]).out.trim(), '', 'stop unpublishes the ports');
  // A policy that no longer publishes them gives them back to everyone.
  mustApply(inst!, `users:\n  ${user.name}:\n    network: private\n`);
  assert.equal(await bindUdp(plain, port), 'bound bound', 'after the range left the policy');
  assert.ok(!reservedPort(port) && !reservedPort(port + 1), 'no longer in ip_local_reserved_ports');
});

test('publish.udp: apply names a published port that a socket of another account bound before it was kept', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'np5');
  const plain = createUser(t, inst!, 'np5p', { enrolled: false });
  const port = 61000 + (process.pid % 400);
  // The other account's socket, bound while the port was anyone's, held until the test ends.
  const holder = spawn(
    '/usr/bin/setpriv',
    [
      '--reuid',
      String(plain.uid),
      '--regid',
      String(plain.gid),
      '--init-groups',
      '--',
      '/usr/bin/python3',
      '-c',
      `import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(("0.0.0.0", ${port}))\nprint("bound", flush=True)\nsys.stdin.read()`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  t.after(() => holder.kill());
  await new Promise<void>((resolve, reject) => {
    holder.stdout.once('data', () => resolve());
    holder.once('exit', () => reject(new Error('the other account could not bind the port')));
  });
  const r = applyPolicy(inst!, `users:\n  ${user.name}:\n    network: private\n    publish:\n      udp: ${port}\n`);
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, new RegExp(`UDP ports ${port} \\(${user.name}\\) kept`));
  assert.match(
    r.err,
    new RegExp(
      `UDP port ${port} of ${user.name} is already bound by a socket of uid ${plain.uid}, so ${user.name}'s logins fail`,
    ),
  );
  mustApply(inst!, `users:\n  ${user.name}:\n    network: private\n`);
});

test("publish.udp: two cellsh installations on one host keep their ports apart; neither takes nor frees the other's", {
  skip: skip || (existsSync(OTHER_INSTALL) ? false : `${OTHER_INSTALL} is not built (test/run.sh builds it)`),
}, async (t) => {
  const user = createUser(t, inst!, 'np6');
  const plain = createUser(t, inst!, 'np6p', { enrolled: false });
  const nat = Number(must('id', ['-u', 'cellsh-nat']).out.trim());
  const port = 62000 + (process.pid % 400);
  const other = (...ports: number[]): Result => run(OTHER_INSTALL, [String(nat), ...ports.map(String)]);
  t.after(() => other());
  mustApply(inst!, `users:\n  ${user.name}:\n    network: private\n    publish:\n      udp: ${port}-${port + 1}\n`);
  t.after(() => mustApply(inst!, 'defaults: {}\n'));
  const taken = other(port + 1, port + 1);
  assert.equal(taken.status, 1);
  assert.match(taken.out, new RegExp(`UDP port ${port + 1} is kept by another cellsh installation on this host`));
  assert.equal(other(port + 5, port + 5).out.trim(), 'kept');
  assert.equal(await bindUdp(plain, port + 5), 'Operation-not-permitted Operation-not-permitted', "the other's port");
  assert.ok(reservedPort(port + 5), "the other's port is reserved");
  // This installation's apply keeps its own ports exactly, and leaves the other's alone.
  mustApply(inst!, `users:\n  ${user.name}:\n    network: private\n    publish:\n      udp: ${port}\n`);
  assert.equal(
    await bindUdp(plain, port + 5),
    'Operation-not-permitted Operation-not-permitted',
    "the other's port, still",
  );
  assert.equal(await bindUdp(plain, port + 1), 'bound bound', 'the port this one no longer has');
  // The other frees all of its own: this one's stay kept.
  assert.equal(other().out.trim(), 'kept');
  assert.equal(await bindUdp(plain, port + 5), 'bound bound', "the other's port, freed");
  assert.ok(!reservedPort(port + 5));
  assert.equal(await bindUdp(plain, port), 'Operation-not-permitted Operation-not-permitted', "this one's port");
});
