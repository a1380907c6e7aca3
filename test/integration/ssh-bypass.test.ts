// Nothing runs outside the container. Each way sshd
// offers around a login shell is tried through a real sshd with the drop-in
// install.sh wrote, and fails; each has a negative control showing the same
// attempt works without cellsh, so the test can see the attack.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { must, run, runAsync, waitFor } from '../helpers/system.js';
import { markerPayloads } from '../helpers/payloads.js';
import { sshSkipReason, TestSshd, type SshdOptions } from '../helpers/sshd.js';

const inst = testInstall();
const skip = skipReason(inst) || sshSkipReason();

/** A cellsh user (cellsh as login shell) and a plain one (bash, not enrolled), on one sshd. */
async function pair(
  t: TestContext,
  suffix: string,
  opts: SshdOptions = {},
): Promise<{ user: TestUser; plain: TestUser; sshd: TestSshd }> {
  const user = createUser(t, inst!, `${suffix}c`);
  const plain = createUser(t, inst!, `${suffix}p`, { enrolled: false });
  mustApply(inst!);
  const sshd = await TestSshd.start(t, inst!, opts);
  sshd.authorize(user);
  sshd.authorize(plain);
  return { user, plain, sshd };
}

/** Write a file in the user's home, owned by them, as they could from inside. */
function plant(user: TestUser, rel: string, text: string, mode = 0o644): void {
  const path = join(user.home, rel);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text, { mode });
  chownSync(join(path, '..'), user.uid, user.gid);
  chownSync(path, user.uid, user.gid);
}

/** A TCP service only on the host's loopback, counting connections. */
async function hostService(t: TestContext): Promise<{ port: number; hits: () => number }> {
  let hits = 0;
  const srv = createServer((c) => {
    hits++;
    c.end('host secret\n');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => srv.close());
  return { port: (srv.address() as { port: number }).port, hits: () => hits };
}

/** Everything a unix socket sends until it closes ('' if refused). */
function readSocket(path: string): Promise<string> {
  return new Promise<string>((res) => {
    let data = '';
    const c = connect(path);
    c.on('data', (b) => {
      data += b.toString();
    })
      .on('close', () => res(data))
      .on('error', () => res(data));
  });
}

test('ssh: TCP, stream-local and tunnel forwarding and X11 are refused for cellsh users', { skip }, async (t) => {
  // X11 and tunnels allowed globally (Debian's sshd_config allows X11): the drop-in must close them.
  const { user, plain, sshd } = await pair(t, 's6fw', { extra: ['X11Forwarding yes', 'PermitTunnel yes'] });
  const svc = await hostService(t);
  // Control: a plain user reaches the host-only service through -W.
  const control = await sshd.ssh(plain, [], { options: ['-W', `127.0.0.1:${svc.port}`] });
  assert.match(control.out, /host secret/, `control: ${control.err}`);
  assert.equal(svc.hits(), 1);

  const w = await sshd.ssh(user, [], { options: ['-W', `127.0.0.1:${svc.port}`] });
  assert.notEqual(w.status, 0);
  assert.match(w.err, /administratively prohibited|open failed|forwarding failed/);
  const r = await sshd.ssh(user, ['true'], {
    options: ['-o', 'ExitOnForwardFailure=yes', '-R', `0:127.0.0.1:${svc.port}`],
  });
  assert.equal(r.status, 255, 'remote forwarding refused');
  assert.match(r.err, /forwarding failed/);
  // Tunnels: sshd's own refusal (seen with -v) comes only from the policy; a plain
  // user's request gets past it (and then fails to make a tun device without root).
  await t.test('ssh: tunnel device forwarding is refused', async (st) => {
    const tunnel = {
      options: ['-v', '-o', 'ExitOnForwardFailure=yes', '-o', 'Tunnel=point-to-point', '-w', 'any:any'],
    };
    const ptun = await sshd.ssh(plain, ['true'], tunnel);
    // The client opens its own tun device before it asks; without CAP_NET_ADMIN
    // (a container sharing the host's network, as systemd-nspawn does) it never asks.
    const local = /sys_tun_open: (failed[^\r\n]*)/.exec(ptun.err);
    if (local) return st.skip(`the ssh client can't open a tun device here, so it never asks the server (${local[1]})`);
    assert.doesNotMatch(
      ptun.err,
      /Server has rejected tunnel device forwarding/,
      "control: PermitTunnel yes lets a plain user's request through",
    );
    const tun = await sshd.ssh(user, ['true'], tunnel);
    assert.equal(tun.status, 255, 'tunnel refused');
    assert.match(tun.err, /Server has rejected tunnel device forwarding/);
  });
  // Stream-local: a unix socket service on the host, offered through -L.
  const hostSock = `/tmp/cellsh-t-svc-${process.pid}.sock`;
  const localSock = `/tmp/cellsh-t-fwd-${process.pid}.sock`;
  let sockHits = 0;
  const usrv = createServer((c) => {
    sockHits++;
    c.end('host socket\n');
  });
  await new Promise<void>((res) => usrv.listen(hostSock, res));
  t.after(() => {
    usrv.close();
    rmSync(localSock, { force: true });
  });
  run('chmod', ['666', hostSock]);
  const fwd = spawn(
    'ssh',
    [...sshd.clientOptions(), '-p', String(sshd.port), '-N', '-L', `${localSock}:${hostSock}`, sshd.target(user)],
    { stdio: 'ignore' },
  );
  t.after(() => fwd.kill());
  await waitFor('the local end of the forward', () => existsSync(localSock));
  const got = await readSocket(localSock);
  assert.equal(got, '', 'nothing from the host socket');
  assert.equal(sockHits, 0);
  fwd.kill();
  rmSync(localSock, { force: true });
  // Control: the same forward for a plain user reaches the host socket.
  const plainFwd = spawn(
    'ssh',
    [...sshd.clientOptions(), '-p', String(sshd.port), '-N', '-L', `${localSock}:${hostSock}`, sshd.target(plain)],
    { stdio: 'ignore' },
  );
  t.after(() => plainFwd.kill());
  await waitFor("the local end of the plain user's forward", () => existsSync(localSock));
  assert.equal(await readSocket(localSock), 'host socket\n', 'control: stream-local forwarding reaches the host');
  plainFwd.kill();
  // X11: sshd answers the client's request (seen with -v); a plain user gets a display.
  const x11 = {
    options: ['-v', '-o', 'ForwardX11=yes'],
    env: { PATH: '/usr/bin:/bin', HOME: '/root', DISPLAY: ':99' },
  };
  const px = await sshd.ssh(plain, ['echo "display=$DISPLAY"'], x11);
  assert.match(
    px.out,
    /^display=localhost:\d+\.0$/m,
    `control: X11 forwarding works for a plain user: ${px.err.slice(-400)}`,
  );
  const cx = await sshd.ssh(user, ['true'], x11);
  assert.match(cx.err, /X11 forwarding request failed/, 'sshd refused X11 forwarding');
  assert.equal(svc.hits(), 1, 'only the control reached the host service');
});

test('ssh: ~/.ssh/rc, ~/.ssh/environment and authorized_keys command= run nothing on the host', { skip }, async (t) => {
  const p = markerPayloads(t);
  // PermitUserEnvironment yes before the drop-in: the launcher must hold even then.
  const { user, plain, sshd } = await pair(t, 's6rc', { extra: ['PermitUserEnvironment yes'] });
  const rcMarker = (u: TestUser): string => join(p.dir, `rc-${u.name}`);
  for (const u of [user, plain]) {
    plant(u, '.ssh/rc', `touch ${rcMarker(u)}\n`);
    plant(u, '.ssh/environment', `LD_PRELOAD=${p.so}\nNODE_OPTIONS=--require=${p.js}\n`, 0o600);
  }
  await sshd.ssh(plain, ['true']);
  assert.ok(existsSync(rcMarker(plain)), 'control: ~/.ssh/rc runs for a plain user');
  assert.ok(existsSync(p.soMarker), "control: ~/.ssh/environment reaches a plain user's programs");
  rmSync(p.soMarker);

  const r = await sshd.ssh(user, ['echo inside']);
  assert.equal(r.out, 'inside\n', r.err);
  assert.ok(!existsSync(rcMarker(user)), '~/.ssh/rc did not run on the host');
  assert.ok(!existsSync(p.soMarker) && !existsSync(p.jsMarker), '~/.ssh/environment did not reach any loader or Node');

  // A key whose options a compromised container could have written.
  const keyMarker = join(p.dir, 'key-command');
  sshd.authorize(user, `command="touch ${keyMarker}",permitopen="*:*",environment="LD_PRELOAD=${p.so}"`);
  const k = await sshd.ssh(user, ['echo still-inside']);
  assert.equal(k.out, 'still-inside\n', k.err);
  assert.ok(
    !existsSync(keyMarker) && !existsSync(p.soMarker),
    "the key's command= and environment= ran nothing on the host",
  );
});

test('ssh: internal-sftp is served inside the container, never by sshd on the host', { skip }, async (t) => {
  const hostOnly = `/var/lib/cellsh-host-only-${process.pid}`;
  mkdirSync(hostOnly);
  t.after(() => rmSync(hostOnly, { recursive: true, force: true }));
  const listing = async (sshd: TestSshd, u: TestUser): Promise<string> => {
    writeFileSync(`${sshd.dir}/batch`, 'ls -1 /var/lib\n');
    const r = await runAsync('sftp', [
      ...sshd.clientOptions(),
      '-P',
      String(sshd.port),
      '-b',
      `${sshd.dir}/batch`,
      sshd.target(u),
    ]);
    return r.out + r.err;
  };
  // Control: cellsh as login shell but no drop-in: sshd serves sftp itself, on the host.
  const bare = createUser(t, inst!, 's6sftpb');
  mustApply(inst!);
  const open = await TestSshd.start(t, inst!, { subsystem: 'internal-sftp', dropIn: false });
  open.authorize(bare);
  assert.match(
    await listing(open, bare),
    new RegExp(hostOnly.split('/').pop()!),
    'control: internal-sftp sees the host',
  );
  // With the drop-in, the same request runs the sftp server inside.
  const user = createUser(t, inst!, 's6sftpc');
  mustApply(inst!);
  const closed = await TestSshd.start(t, inst!, { subsystem: 'internal-sftp' });
  closed.authorize(user);
  const inside = await listing(closed, user);
  assert.doesNotMatch(inside, new RegExp(hostOnly.split('/').pop()!));
  assert.match(inside, /sftp> ls -1 \/var\/lib/);
});

test('ssh: ForceCommand: a login shell that reads startup files runs them on the host; cellsh or /bin/sh closes it', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 's6bashrc');
  mustApply(inst!);
  const sshd = await TestSshd.start(t, inst!);
  sshd.authorize(user);
  const marker = `/tmp/cellsh-t-bashrc-${process.pid}`;
  t.after(() => rmSync(marker, { force: true }));
  plant(user, '.bashrc', `touch ${marker}\n`);
  plant(user, '.zshenv', `touch ${marker}\n`);
  must('usermod', ['--shell', '/bin/bash', user.name]);
  const trap = await sshd.ssh(user, ['true']);
  assert.equal(trap.status, 0, trap.err);
  assert.ok(existsSync(marker), 'control: with bash as login shell, ~/.bashrc runs on the host before cellsh (SA-36)');
  rmSync(marker);
  assert.equal(run(inst!.admin, ['enroll', user.name, '--keep-shell']).status, 77, 'enroll --keep-shell refuses bash');
  for (const shell of [inst!.launcher, '/bin/sh']) {
    must('usermod', ['--shell', shell, user.name]);
    const r = await sshd.ssh(user, ['echo inside']);
    assert.equal(r.out, 'inside\n', `${shell}: ${r.err}`);
    assert.ok(!existsSync(marker), `${shell}: nothing ran on the host`);
  }
});

test("ssh: ~/.pam_environment can't carry variables into cellsh (with cellsh as the login shell)", {
  skip,
}, async (t) => {
  const p = markerPayloads(t);
  const { user, plain, sshd } = await pair(t, 's6pam');
  for (const u of [user, plain])
    plant(u, '.pam_environment', `LD_PRELOAD DEFAULT=${p.so}\nNODE_OPTIONS DEFAULT=--require=${p.js}\n`);
  await sshd.ssh(plain, ['true']);
  if (!existsSync(p.soMarker))
    return t.skip("this host's sshd PAM stack does not read ~/.pam_environment (user_readenv=0)");
  rmSync(p.soMarker);
  const r = await sshd.ssh(user, ['echo inside']);
  assert.equal(r.out, 'inside\n', r.err);
  assert.ok(!existsSync(p.soMarker) && !existsSync(p.jsMarker), 'with cellsh as login shell, nothing ran');
});
