// sshd's own forwarding lands in the user's container: with the PAM session
// module (pam/pam_cellsh.c) in a real sshd's PAM stack, and the drop-ins
// install.sh writes beside it, -W and -L reach what
// listens on the container's loopback and never the host's, and a user the
// helper refuses gets no session at all. A plain host account on the same
// server is the control: it reaches the host's loopback as usual.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { applyPolicy, logRecords, mustApply, natSkipReason, skipReason, testInstall } from '../helpers/install.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { must, run, waitFor } from '../helpers/system.js';
import { sshSkipReason, TestSshd } from '../helpers/sshd.js';

const inst = testInstall();
const pamReason = (): string | false =>
  existsSync(join(inst!.root, 'etc/pam.d/sshd'))
    ? false
    : 'the private install has no PAM stack for sshd (no /etc/pam.d/sshd here)';
const skip = skipReason(inst) || sshSkipReason() || pamReason();

/** A cellsh user, a plain host account and an sshd whose session stack has the module. */
async function setup(t: TestContext, suffix: string, policy?: string) {
  const user = createUser(t, inst!, `${suffix}c`);
  const plain = createUser(t, inst!, `${suffix}p`, { enrolled: false });
  mustApply(inst!, policy);
  // sshd as install.sh leaves it: the cellsh drop-ins, and the PAM lines with pam_cellsh.
  const sshd = await TestSshd.start(t, inst!, { pam: true });
  sshd.authorize(user);
  sshd.authorize(plain);
  return { user, plain, sshd };
}

/** A TCP service on the host's loopback only, saying who it is. */
async function hostService(t: TestContext): Promise<number> {
  const srv = createServer((c) => c.end('host secret\n'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => srv.close());
  return (srv.address() as { port: number }).port;
}

/** Start, in the user's container, a web server on its loopback; wait until -W reaches it. */
async function containerWebServer(sshd: TestSshd, user: TestUser, port: number): Promise<void> {
  const started = await sshd.ssh(user, [
    `mkdir -p ~/www && echo inside-the-container > ~/www/index.html && ` +
      `(setsid python3 -m http.server ${port} --bind 127.0.0.1 --directory ~/www </dev/null >/dev/null 2>&1 &)`,
  ]);
  assert.equal(started.status, 0, started.err);
  await waitFor(
    'the web server in the container',
    async () => /inside-the-container/.test((await httpOverW(sshd, user, port)).out),
    20_000,
  );
}

/** GET / through ssh -W to 127.0.0.1:port, as the server's side sees it. */
function httpOverW(sshd: TestSshd, user: TestUser, port: number) {
  return sshd.ssh(user, [], {
    options: ['-W', `127.0.0.1:${port}`],
    input: 'GET / HTTP/1.0\r\n\r\n',
    timeoutMs: 20_000,
  });
}

/** -W and -L reach a web server in the container (network as the policy says);
 * -W at a service on the host's loopback does not, while a plain account's does. */
async function forwardsReachInside(t: TestContext, suffix: string, policy?: string): Promise<void> {
  const { user, plain, sshd } = await setup(t, suffix, policy);
  const hostPort = await hostService(t);
  // Control: the plain account's forwarding runs in the host's network.
  const control = await sshd.ssh(plain, [], { options: ['-W', `127.0.0.1:${hostPort}`] });
  assert.match(control.out, /host secret/, `control: ${control.err}`);

  const port = 20000 + (process.pid % 10000);
  await containerWebServer(sshd, user, port);
  const w = await httpOverW(sshd, user, port);
  assert.match(w.out, /^HTTP\/1\.0 200/);
  assert.match(w.out, /inside-the-container/);

  // The same -W at the host's service: the container's loopback has nothing there.
  const denied = await sshd.ssh(user, [], { options: ['-W', `127.0.0.1:${hostPort}`] });
  assert.notEqual(denied.status, 0);
  assert.doesNotMatch(denied.out, /host secret/);

  // -L: a local port on the client's side, tunnelled to the container's server.
  const local = await freePort();
  tunnel(t, sshd, user, ['-L', `${local}:127.0.0.1:${port}`]);
  const body = await waitFor(
    'the page through ssh -L',
    () =>
      new Promise<string | false>((res) => {
        let data = '';
        const c = connect(local, '127.0.0.1', () => c.write('GET / HTTP/1.0\r\n\r\n'));
        c.on('data', (b) => {
          data += b.toString();
        });
        c.on('close', () => res(/inside-the-container/.test(data) ? data : false));
        c.on('error', () => res(false));
      }),
    20_000,
  );
  assert.match(body, /^HTTP\/1\.0 200/);

  const forwarding = logRecords(inst!).filter(
    (r) => r['msg'] === 'login' && r['uid'] === user.uid && r['mode'] === 'forwarding',
  );
  assert.ok(forwarding.length >= 1, "the module's logins are in the audit log, as forwarding");
}

test(
  "ssh -W and -L reach a web server on the container's loopback; the host's loopback stays out of reach",
  {
    skip,
  },
  (t) => forwardsReachInside(t, 'fw1'),
);

test(
  "with network: private, ssh -W and -L reach a web server on the container's loopback; the host's loopback stays out of reach",
  {
    skip: skip || natSkipReason(),
  },
  (t) => forwardsReachInside(t, 'fw9', 'defaults:\n  network: private\n'),
);

/** A free TCP port on the host's loopback. */
function freePort(): Promise<number> {
  return new Promise<number>((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

/** ssh -N with these forwarding options, ended (by pid) after t. */
function tunnel(t: TestContext, sshd: TestSshd, user: TestUser, options: string[]): void {
  const proc = spawn('ssh', [...sshd.clientOptions(), '-N', ...options, '-p', String(sshd.port), sshd.target(user)], {
    stdio: 'ignore',
    env: { PATH: '/usr/bin:/bin', HOME: '/root' },
  });
  t.after(() => {
    if (proc.pid && proc.exitCode === null) process.kill(proc.pid, 'SIGTERM');
  });
}

/** GET / from 127.0.0.1:port in SOCKS5 through the proxy at socksPort; the reply, or false. */
function getThroughSocks(socksPort: number, port: number): Promise<string | false> {
  return new Promise((res) => {
    let stage = 0;
    let data = Buffer.alloc(0);
    const c = connect(socksPort, '127.0.0.1', () => c.write(Buffer.from([5, 1, 0])));
    c.on('data', (b) => {
      data = Buffer.concat([data, b]);
      if (stage === 0 && data.length >= 2) {
        stage = 1;
        data = data.subarray(2);
        c.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 255]));
      }
      if (stage === 1 && data.length >= 10) {
        stage = data[1] === 0 ? 2 : 3;
        data = data.subarray(10);
        if (stage === 2) c.write('GET / HTTP/1.0\r\n\r\n');
        else c.destroy();
      }
    });
    c.on('close', () => res(stage === 2 ? data.toString() : false));
    c.on('error', () => res(false));
  });
}

test("ssh -D reaches the container's web server through SOCKS, and ssh -R brings a client's service into the container", {
  skip,
}, async (t) => {
  const { user, sshd } = await setup(t, 'fw3');
  const port = 20000 + ((process.pid + 7) % 10000);
  await containerWebServer(sshd, user, port);
  const socks = await freePort();
  tunnel(t, sshd, user, ['-D', `127.0.0.1:${socks}`]);
  const page = await waitFor('the page through ssh -D', () => getThroughSocks(socks, port), 20_000);
  assert.match(page, /^HTTP\/1\.0 200[\s\S]*inside-the-container/);

  // -R: sshd listens inside the container; a program there reaches the client's service.
  const clientSide = createServer((c) => c.end('from the client side\n'));
  await new Promise<void>((r) => clientSide.listen(0, '127.0.0.1', r));
  t.after(() => clientSide.close());
  const remote = 20000 + ((process.pid + 13) % 10000);
  tunnel(t, sshd, user, ['-R', `127.0.0.1:${remote}:127.0.0.1:${(clientSide.address() as { port: number }).port}`]);
  const read = `python3 -c "import socket; s = socket.create_connection(('127.0.0.1', ${remote})); print(s.recv(100).decode())"`;
  const inside = await waitFor(
    "the client's service from inside the container",
    async () => {
      const r = await sshd.ssh(user, [read]);
      return /from the client side/.test(r.out) ? r : false;
    },
    20_000,
  );
  assert.equal(inside.status, 0);
  // The listener is the container's: the host's loopback has nothing on that port.
  await new Promise<void>((res, rej) => {
    const c = connect(remote, '127.0.0.1', () => {
      c.destroy();
      rej(new Error(`the host's 127.0.0.1:${remote} answered: -R listened in the host's network`));
    });
    c.on('error', () => res());
  });
});

test("one user's forwards never reach another user's container, and a VS Code-style second channel reaches the server the first started", {
  skip,
}, async (t) => {
  const { user, sshd } = await setup(t, 'fw4');
  const other = createUser(t, inst!, 'fw4o');
  mustApply(inst!);
  sshd.authorize(other);
  const port = 20000 + ((process.pid + 29) % 10000);
  await containerWebServer(sshd, other, port);
  // The same address from the first user's session: their container's loopback has nothing there.
  const w = await httpOverW(sshd, user, port);
  assert.notEqual(w.status, 0);
  assert.doesNotMatch(w.out, /inside-the-container/);

  // VS Code Remote-SSH: one connection (ControlMaster); a command starts a server on a
  // random port inside and prints it; a second channel of the same connection tunnels to it.
  const control = join(sshd.dir, 'cm-%r');
  const master = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${control}`, '-o', 'ControlPersist=60'];
  t.after(() => {
    void sshd.ssh(user, [], { options: [...master, '-O', 'exit'] });
  });
  const start = await sshd.ssh(
    user,
    [
      `python3 -c "import socket, os, sys; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True); os.close(1); os.close(2)
c, _ = s.accept(); c.sendall(b'server started by the first channel'); c.close()" </dev/null &`,
    ],
    { options: master },
  );
  assert.equal(start.status, 0, start.err);
  const serverPort = Number(start.out.trim());
  assert.ok(serverPort > 0, `a port: ${start.out}`);
  const second = await sshd.ssh(user, [], { options: [...master, '-W', `127.0.0.1:${serverPort}`] });
  assert.match(second.out, /server started by the first channel/, second.err);
});

test("a forward joins the user's container as it is: their own settings, which sshd's session doesn't carry, never restart it", {
  skip,
}, async (t) => {
  const { user, sshd } = await setup(t, 'fw5', 'defaults:\n  restart: login\n  user_may_set: [hostname]\n');
  const config = join(user.home, '.config');
  mkdirSync(config, { recursive: true });
  writeFileSync(join(config, 'cellsh.yaml'), 'hostname: my-own-box\n');
  chownSync(config, user.uid, user.gid);
  chownSync(join(config, 'cellsh.yaml'), user.uid, user.gid);
  const first = await sshd.ssh(user, ['hostname; (setsid sleep 600 </dev/null >/dev/null 2>&1 &)']);
  assert.equal(first.status, 0, first.err);
  assert.match(first.out, /^my-own-box$/m);
  // (That first connection's forward started the container with the admin's settings, and its
  // login then restarted it with the user's own, as restart: login says: that one is expected.)
  const restarts = (): number =>
    logRecords(inst!).filter((r) => r['msg'] === 'container-restart' && r['uid'] === user.uid).length;
  const before = restarts();
  const port = 20000 + ((process.pid + 41) % 10000);
  await containerWebServer(sshd, user, port);
  for (let i = 0; i < 3; i++) assert.match((await httpOverW(sshd, user, port)).out, /inside-the-container/);
  const again = await sshd.ssh(user, ['hostname; pgrep -x sleep >/dev/null && echo still-there']);
  assert.match(again.out, /^my-own-box$/m);
  assert.match(again.out, /still-there/, 'what ran in the container survived the forwards');
  assert.equal(restarts(), before, 'no forward restarted the container');
});

test("the policy's forwarding settings reach a running sshd at apply, user by user: -L, -D and -W, or -R, are refused where the policy says no", {
  skip,
}, async (t) => {
  const { user, sshd } = await setup(t, 'fw6');
  const other = createUser(t, inst!, 'fw6o');
  sshd.authorize(other);
  const closedPort = 20000 + ((process.pid + 53) % 10000);
  // Nothing listens there in the container: where forwarding is allowed, sshd's
  // connect fails; where the policy says no, sshd refuses the request first.
  const refusal = new RegExp(`refused local port forward: .* target 127\\.0\\.0\\.1 port ${closedPort}`);
  const connectFailed = new RegExp(`connect_to 127\\.0\\.0\\.1 port ${closedPort}: failed`);
  const w = async (u: TestUser): Promise<string> => {
    const at = sshd.logText().length;
    const r = await sshd.ssh(u, [], { options: ['-W', `127.0.0.1:${closedPort}`], timeoutMs: 20_000 });
    assert.notEqual(r.status, 0);
    return waitFor(
      `sshd's line on -W to port ${closedPort}`,
      async () => {
        const said = sshd.logText().slice(at);
        return refusal.test(said) || connectFailed.test(said) ? said : false;
      },
      10_000,
    );
  };
  const applied = await sshd.reloadedBy(() =>
    applyPolicy(
      inst!,
      `users:\n  ${user.name}:\n    forwarding: {local: false}\n  ${other.name}:\n    forwarding: {remote: false}\n`,
    ),
  );
  assert.equal(applied.status, 0, applied.err);
  assert.match(applied.out, /applied: ssh forwarding -> \S+cellsh-forwarding\.conf \(sshd reloaded\)/);
  assert.match(await w(user), refusal);
  const socks = await freePort();
  tunnel(t, sshd, user, ['-D', `127.0.0.1:${socks}`]);
  await waitFor('the SOCKS port of ssh -D', () => canConnect(socks), 20_000);
  const at = sshd.logText().length;
  assert.equal(await getThroughSocks(socks, closedPort), false);
  await waitFor('sshd refusing the -D request', async () => refusal.test(sshd.logText().slice(at)), 10_000);
  // -R is still theirs; the other user has -W but not -R.
  const remote = 20000 + ((process.pid + 59) % 10000);
  const r = (u: TestUser) =>
    sshd.ssh(u, ['echo listening'], {
      options: ['-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${remote}:127.0.0.1:9`],
      timeoutMs: 20_000,
    });
  const mine = await r(user);
  assert.equal(mine.status, 0, mine.err);
  assert.match(mine.out, /listening/);
  const theirs = await r(other);
  assert.notEqual(theirs.status, 0);
  assert.match(theirs.err, /remote port forwarding failed/);
  assert.match(await w(other), connectFailed);
  // Back to the defaults: the next apply opens -W again for the first user.
  await sshd.reloadedBy(() => mustApply(inst!));
  assert.match(await w(user), connectFailed);
});

/** Why X11 can't be tried here, or false. */
function x11Reason(): string | false {
  for (const bin of ['/usr/bin/Xvfb', '/usr/bin/xdpyinfo', '/usr/bin/xauth'])
    if (!existsSync(bin)) return `${bin} is not installed (test/run.sh installs xvfb, x11-utils and xauth)`;
  return false;
}

/** An X server on the client's side (Xvfb, unix socket only), ended by pid after t; its DISPLAY:
 * a display number no other server holds, once it answers (not only once its socket exists). */
async function clientDisplay(t: TestContext): Promise<string> {
  let n = 50 + (process.pid % 40);
  while (existsSync(`/tmp/.X${n}-lock`) || existsSync(`/tmp/.X11-unix/X${n}`)) n++;
  const xvfb = spawn('/usr/bin/Xvfb', [`:${n}`, '-nolisten', 'tcp', '-screen', '0', '640x480x24'], { stdio: 'ignore' });
  t.after(() => {
    if (xvfb.pid && xvfb.exitCode === null) process.kill(xvfb.pid, 'SIGTERM');
  });
  await waitFor('Xvfb', async () => run('/usr/bin/xdpyinfo', ['-display', `:${n}`]).status === 0, 10_000);
  return `:${n}`;
}

test("ssh -X and -Y (with -A too): xdpyinfo in the container reaches the client's X server through a display on the container's loopback, where the policy allows X11", {
  skip: skip || x11Reason(),
}, async (t) => {
  const { user, sshd } = await setup(t, 'fw7');
  const other = createUser(t, inst!, 'fw7o');
  await sshd.reloadedBy(() => mustApply(inst!, 'users:\n  cellsh-t-fw7c:\n    forwarding: {x11: true}\n'));
  sshd.authorize(other);
  const display = await clientDisplay(t);
  const env = { PATH: '/usr/bin:/bin', HOME: '/root', DISPLAY: display };
  const ask = 'echo "display=$DISPLAY"; hostname; xdpyinfo | grep -E "^(name of display|vendor string)"';
  for (const flag of ['-X', '-Y']) {
    const r = await sshd.ssh(user, [ask], { options: [flag], env, timeoutMs: 30_000 });
    assert.equal(r.status, 0, `${flag}: ${r.err}`);
    assert.match(r.out, /^display=localhost:\d+\.0$/m, flag);
    assert.match(r.out, /^cellsh-t-fw7c$/m, 'the container has its own hostname, which the cookie must match');
    assert.match(r.out, /^vendor string: +The X\.Org Foundation/m, flag);
  }
  // With an agent too (ssh -A): both reach the session, as without the module.
  const dir = mkdtempSync('/tmp/cellsh-t-agent-');
  must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cellsh-x11-agent-key', '-f', join(dir, 'key')]);
  const agent = must('ssh-agent', ['-a', join(dir, 'sock')]);
  t.after(() => {
    process.kill(Number(/SSH_AGENT_PID=(\d+)/.exec(agent.out)![1]));
    rmSync(dir, { recursive: true, force: true });
  });
  const withAgent = { ...env, SSH_AUTH_SOCK: join(dir, 'sock') };
  must('ssh-add', ['-q', join(dir, 'key')], { env: withAgent });
  const both = await sshd.ssh(user, [`ssh-add -l; ${ask}`], { options: ['-A', '-X'], env: withAgent });
  assert.equal(both.status, 0, both.err);
  assert.match(both.out, /cellsh-x11-agent-key \(ED25519\)/);
  assert.match(both.out, /^vendor string: +The X\.Org Foundation/m);
  // The display listens in the container's network: the host's loopback has nothing there.
  const held = spawn(
    'ssh',
    [...sshd.clientOptions(), '-X', '-p', String(sshd.port), sshd.target(user), 'echo "display=$DISPLAY"; sleep 30'],
    { env, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  t.after(() => {
    if (held.pid && held.exitCode === null) process.kill(held.pid, 'SIGTERM');
  });
  let said = '';
  held.stdout.on('data', (b: Buffer) => {
    said += b.toString();
  });
  const n = Number(
    await waitFor("the held session's display", async () => /display=localhost:(\d+)/.exec(said)?.[1] ?? false, 30_000),
  );
  assert.equal(
    await canConnect(6000 + n),
    false,
    `the host's 127.0.0.1:${6000 + n} answered: the display is the host's`,
  );
  // Where the policy gives no X11, sshd sets no display.
  const refused = await sshd.ssh(other, ['echo "display=$DISPLAY"'], { options: ['-X'], env, timeoutMs: 30_000 });
  assert.equal(refused.status, 0, refused.err);
  assert.match(refused.out, /^display=$/m);
});

/** Whether something on the host's loopback accepts a connection on port. */
function canConnect(port: number): Promise<boolean> {
  return new Promise((res) => {
    const c = connect(port, '127.0.0.1', () => {
      c.destroy();
      res(true);
    });
    c.on('error', () => res(false));
  });
}

test("a network: host container started from an ssh connection kept open across a stop gets the host's network, not the old container's", {
  skip,
}, async (t) => {
  const { user, sshd } = await setup(t, 'fw8');
  const hostPort = await hostService(t);
  // One connection (ControlMaster); pam_cellsh puts its sshd session in the first container's network.
  const master = sshd.controlMaster(t, user);
  const read = `python3 -c "import socket
try:
  print(socket.create_connection(('127.0.0.1', ${hostPort}), timeout=5).recv(100).decode().strip())
except OSError as e:
  print('refused', e)"`;
  const first = await sshd.ssh(user, [read], { options: master });
  assert.match(first.out, /^refused/, first.err);
  mustApply(inst!, `users:\n  ${user.name}:\n    network: host\n`); // forwarding unchanged: sshd is not reloaded
  must(inst!.admin, ['stop', user.name]);
  // The next session on that connection starts the container from the old one's network.
  const again = await sshd.ssh(user, [read], { options: master });
  assert.equal(again.status, 0, again.err);
  assert.equal(again.out.trim(), 'host secret');
});

test('a user in the cellsh group whom the helper refuses gets no ssh session: the module fails closed', {
  skip,
}, async (t) => {
  const { user, plain, sshd } = await setup(t, 'fw2');
  const hostPort = await hostService(t);
  // In the group but not in the applied policy: the helper says no, and the
  // host's network must not be what the session gets instead.
  const late = createUser(t, inst!, 'fw2l');
  sshd.authorize(late);
  const control = await sshd.ssh(plain, [], { options: ['-W', `127.0.0.1:${hostPort}`] });
  assert.match(control.out, /host secret/, `control: ${control.err}`);
  const w = await sshd.ssh(late, [], { options: ['-W', `127.0.0.1:${hostPort}`] });
  assert.notEqual(w.status, 0);
  assert.doesNotMatch(w.out, /host secret/);
  const denied = logRecords(inst!).filter((x) => x['msg'] === 'denied' && x['uid'] === late.uid);
  assert.ok(denied.length >= 1, 'the helper logged its refusal');
  // The enrolled user on the same server is served.
  const ok = await sshd.ssh(user, ['echo reached']);
  assert.equal(ok.status, 0, ok.err);
  assert.match(ok.out, /reached/);
});
