// Agent forwarding (ssh -A) reaches inside the
// container without the host's /tmp: only the agent is reachable, at a stable
// path that keeps working across several sessions and when the session that
// brought the agent ends while another lives on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { skipReason, testInstall } from '../helpers/install.js';
import { containerRecord } from '../helpers/users.js';
import { must, waitFor } from '../helpers/system.js';
import { deploy, sshSkipReason } from '../helpers/sshd.js';

const inst = testInstall();
const skip = skipReason(inst) || sshSkipReason();
const STABLE = '/run/cellsh/agents/current';

test("ssh: ssh -A: the client's keys are listed inside, through a stable path, with no host /tmp in the container", {
  skip,
}, async (t) => {
  const { user, sshd } = await deploy(t, inst!, 'force-command', 's4agent');
  const dir = mkdtempSync('/tmp/cellsh-t-agent-');
  must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cellsh-agent-test-key', '-f', join(dir, 'key')]);
  const agent = must('ssh-agent', ['-a', join(dir, 'sock')]);
  const agentPid = /SSH_AGENT_PID=(\d+)/.exec(agent.out)![1]!;
  t.after(() => {
    process.kill(Number(agentPid));
    rmSync(dir, { recursive: true, force: true });
  });
  const env = { PATH: '/usr/bin:/bin', HOME: '/root', SSH_AUTH_SOCK: join(dir, 'sock') };
  must('ssh-add', ['-q', join(dir, 'key')], { env });

  const r = await sshd.ssh(
    user,
    ['echo $SSH_AUTH_SOCK; ssh-add -l; ls -d /tmp/ssh-* 2>/dev/null; grep -c "/tmp/ssh-" /proc/self/mountinfo'],
    { env, options: ['-A'] },
  );
  const [sock, keys, ...rest] = r.out.trim().split('\n');
  assert.equal(sock, STABLE);
  assert.match(keys!, /cellsh-agent-test-key \(ED25519\)/);
  assert.deepEqual(rest, ['0'], 'no host /tmp/ssh-* folder is visible or mounted inside');

  // The same with a terminal (the launcher's early start; Node relays the agent there).
  const tty = await sshd.ssh(user, ['echo $SSH_AUTH_SOCK; ssh-add -l'], { env, options: ['-A', '-tt'] });
  assert.match(tty.out, new RegExp(`^${STABLE}\r?\n.*cellsh-agent-test-key \\(ED25519\\)`, 's'), tty.out + tty.err);

  // Without -A there is no agent inside.
  const none = await sshd.ssh(user, ['echo "sock=$SSH_AUTH_SOCK"; ssh-add -l'], { env });
  assert.match(none.out, /^sock=\n/);
  assert.notEqual(none.status, 0);

  // Two sessions bring the agent; the newest one ends first; a third session,
  // which has no agent of its own, uses the stable path all along.
  const waitUntil = (file: string): string => `while [ ! -e ~/${file} ]; do sleep 0.1; done`;
  const older = sshd.ssh(user, [waitUntil('stop-older')], { env, options: ['-A'] });
  await waitFor("the older session's agent socket", () => agentSockets(user).length === 1);
  await new Promise((res) => setTimeout(res, 20)); // a later start time for the newer one
  const newer = sshd.ssh(user, [waitUntil('stop-newer')], { env, options: ['-A'] });
  await waitFor("the newer session's agent socket", () => agentSockets(user).length === 2);
  const viaStable = async (): Promise<{ status: number; out: string }> =>
    sshd.ssh(user, [`SSH_AUTH_SOCK=${STABLE} ssh-add -l`]);
  assert.match((await viaStable()).out, /cellsh-agent-test-key/, 'with two sessions');
  writeMarker(user, 'stop-newer');
  assert.equal((await newer).status, 0);
  assert.match(
    (await viaStable()).out,
    /cellsh-agent-test-key/,
    'after the newest session that brought it ended, the other one serves',
  );
  writeMarker(user, 'stop-older');
  assert.equal((await older).status, 0);
  const gone = await viaStable();
  assert.notEqual(gone.status, 0, 'no agent once no session has one');
  assert.equal((await sshd.ssh(user, [`test -e ${STABLE} || echo gone`])).out, 'gone\n');
});

test("ssh: names planted in the container's agents folder are never followed on the host; dead sockets are cleared", {
  skip,
}, async (t) => {
  const { user, sshd } = await deploy(t, inst!, 'force-command', 's4plant');
  const dir = mkdtempSync('/tmp/cellsh-t-agent-');
  const agent = must('ssh-agent', ['-a', join(dir, 'sock')]);
  const agentPid = /SSH_AGENT_PID=(\d+)/.exec(agent.out)![1]!;
  // A unix socket only the host has, open to everyone, counting connections.
  const hostSock = join(dir, 'host-service.sock');
  let hits = 0;
  const srv = createServer((c) => {
    hits++;
    c.end();
  });
  await new Promise<void>((res) => srv.listen(hostSock, res));
  chmodSync(dir, 0o755);
  chmodSync(hostSock, 0o666);
  t.after(() => {
    srv.close();
    process.kill(Number(agentPid));
    rmSync(dir, { recursive: true, force: true });
  });
  const env = { PATH: '/usr/bin:/bin', HOME: '/root', SSH_AUTH_SOCK: join(dir, 'sock') };
  const session = sshd.ssh(user, ['while [ ! -e ~/stop ]; do sleep 0.1; done'], { env, options: ['-A'] });
  await waitFor("the session's agent socket", () => agentSockets(user).length === 1);
  // From inside: a link to the host's socket under a name that sorts as the
  // newest session, and the socket of a session that died without cleaning up.
  const planted = await sshd.ssh(user, [
    [
      `ln -s ${hostSock} /run/cellsh/agents/9999999999999-aaaaaaaaaaaa.sock`,
      'python3 -c "import socket; socket.socket(socket.AF_UNIX).bind(\'/run/cellsh/agents/1000-bbbbbbbbbbbb.sock\')"',
      'ls /run/cellsh/agents',
    ].join(' && '),
  ]);
  assert.match(planted.out, /9999999999999-aaaaaaaaaaaa\.sock/, planted.err);
  writeMarker(user, 'stop');
  assert.equal((await session).status, 0);
  assert.equal(hits, 0, 'the relay connected to a host socket the container named');
  const left = await sshd.ssh(user, ['ls -A /run/cellsh/agents']);
  assert.equal(left.out, '', 'the planted link, the dead socket and "current" are gone');
});

/** The session agent sockets in the user's container (root sees them through /proc/PID/root). */
function agentSockets(user: { uid: number }): string[] {
  const init = containerRecord(inst!, user as never)?.['init_pid'];
  try {
    return init ? readdirSync(`/proc/${init}/root/run/cellsh/agents`).filter((n) => n.endsWith('.sock')) : [];
  } catch {
    return [];
  }
}

/** A file in the user's home, as the user (the sessions wait for these). */
function writeMarker(user: { home: string; uid: number; gid: number }, name: string): void {
  writeFileSync(join(user.home, name), '');
  chownSync(join(user.home, name), user.uid, user.gid);
}
