// sshd's own forwarding lands in the user's container: with the PAM session
// module (pam/pam_cellsh.c) in a real sshd's PAM stack, -W and -L reach what
// listens on the container's loopback and never the host's, and a user the
// helper refuses gets no session at all. A plain host account on the same
// server is the control: it reaches the host's loopback as usual.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { logRecords, mustApply, skipReason, testInstall } from '../helpers/install.js';
import { packageRoot } from '../helpers/fixtures.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { must, run, waitFor } from '../helpers/system.js';
import { sshSkipReason, TestSshd } from '../helpers/sshd.js';

const inst = testInstall();
const pamReason = (): string | false =>
  run('sh', ['-c', 'test -f /usr/include/security/pam_modules.h']).status === 0
    ? false
    : 'libpam0g-dev is not installed (test/run.sh installs it)';
const skip = skipReason(inst) || sshSkipReason() || pamReason();

/** The module built for the private installation's helper, in a folder removed after t. */
function buildModule(t: TestContext): string {
  const out = mkdtempSync('/var/lib/cellsh-test-pam-');
  t.after(() => rmSync(out, { recursive: true, force: true }));
  must('make', [
    '-s',
    '-C',
    join(packageRoot(), 'src/helper'),
    `OUT=${out}`,
    `LIBDIR=${inst!.libDir}`,
    `${out}/pam_cellsh.so`,
  ]);
  return join(out, 'pam_cellsh.so');
}

/** A cellsh user, a plain host account and an sshd whose session stack has the module. */
async function setup(t: TestContext, suffix: string) {
  const user = createUser(t, inst!, `${suffix}c`);
  const plain = createUser(t, inst!, `${suffix}p`, { enrolled: false });
  mustApply(inst!);
  const module = buildModule(t);
  // Without the drop-in: forwarding open, as the drop-in will open it once the module is in place.
  const sshd = await TestSshd.start(t, inst!, {
    dropIn: false,
    pamSession: [`session required ${module} group=${inst!.group}`],
  });
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

test("ssh -W and -L reach a web server on the container's loopback; the host's loopback stays out of reach", {
  skip,
}, async (t) => {
  const { user, plain, sshd } = await setup(t, 'fw1');
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
  const local = await new Promise<number>((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
  const tunnel = spawn(
    'ssh',
    [...sshd.clientOptions(), '-N', '-L', `${local}:127.0.0.1:${port}`, '-p', String(sshd.port), sshd.target(user)],
    { stdio: 'ignore', env: { PATH: '/usr/bin:/bin', HOME: '/root' } },
  );
  t.after(() => {
    if (tunnel.pid) process.kill(tunnel.pid, 'SIGTERM');
  });
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
