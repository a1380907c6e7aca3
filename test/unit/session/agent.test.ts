// sshd's agent socket as the host side relays it: only a socket of the user's
// in a 0700 folder of theirs, checked once through an fd and reached through
// that fd for every connection, so swapping the path for a link to another
// socket afterwards reaches nothing new.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostAgentSocket } from '../../../src/session/agent.js';

/** The uid the folder and socket belong to (no account needed). */
const UID = 4243;
const ROOT_ONLY = process.getuid?.() === 0 ? false : 'needs root: the socket must belong to another uid';

/** A socket at path that answers every connection with its name. */
async function answering(t: TestContext, path: string, name: string): Promise<void> {
  const server = createServer((c) => c.end(name));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.after(() => server.close());
}

/** What the socket at path answers. */
function ask(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    connect(path)
      .on('data', (d) => (got += d.toString()))
      .on('end', () => resolve(got))
      .on('error', reject);
  });
}

/** sshd's layout: /tmp/ssh-XXXXXXXXXX (0700, the user's) holding agent.PID (the user's socket). */
async function sshdAgent(t: TestContext): Promise<{ dir: string; sock: string }> {
  const dir = `/tmp/ssh-${randomBytes(8).toString('hex').slice(0, 10)}`;
  mkdirSync(dir, { mode: 0o700 });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, `agent.${process.pid}`);
  await answering(t, sock, 'agent');
  chownSync(sock, UID, UID);
  chownSync(dir, UID, UID);
  return { dir, sock };
}

/** Another socket on the host, one the container must not reach. */
async function hostService(t: TestContext): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-t-service-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await answering(t, join(dir, 'service.sock'), 'service');
  return join(dir, 'service.sock');
}

/** hostAgentSocket, closing the fd it keeps once the test is done. */
function checked(t: TestContext, path: string): string | undefined {
  const got = hostAgentSocket(path, UID);
  if (got !== undefined) t.after(() => closeSync(Number(got.split('/').pop())));
  return got;
}

test("sshd's agent socket is relayed, and a link swapped in at its path later reaches nothing new", {
  skip: ROOT_ONLY,
}, async (t) => {
  const { dir, sock } = await sshdAgent(t);
  const service = await hostService(t);
  const host = checked(t, sock);
  assert.ok(host, 'the socket passes the checks');
  assert.equal(await ask(host), 'agent');
  symlinkSync(service, join(dir, 'swap'));
  renameSync(join(dir, 'swap'), sock);
  assert.equal(await ask(sock), 'service', 'the path now leads to the other socket');
  assert.equal(await ask(host), 'agent', 'the relay still reaches the socket it checked');
});

test("an agent path that is a link, or in a link, or in an open folder, or not the user's, is not relayed", {
  skip: ROOT_ONLY,
}, async (t) => {
  const service = await hostService(t);
  const linked = await sshdAgent(t);
  rmSync(linked.sock);
  symlinkSync(service, linked.sock);
  assert.equal(checked(t, linked.sock), undefined, 'the socket is a link');

  const real = await sshdAgent(t);
  const folderLink = `/tmp/ssh-${randomBytes(8).toString('hex').slice(0, 10)}`;
  symlinkSync(real.dir, folderLink);
  t.after(() => rmSync(folderLink, { force: true }));
  assert.equal(checked(t, join(folderLink, real.sock.split('/').pop()!)), undefined, 'the folder is a link');

  const open = await sshdAgent(t);
  chmodSync(open.dir, 0o755);
  assert.equal(checked(t, open.sock), undefined, 'the folder is open to others');

  const theirs = await sshdAgent(t);
  chownSync(theirs.sock, UID + 1, UID + 1);
  assert.equal(checked(t, theirs.sock), undefined, "the socket is someone else's");

  const file = await sshdAgent(t);
  rmSync(file.sock);
  writeFileSync(file.sock, '');
  chownSync(file.sock, UID, UID);
  assert.equal(checked(t, file.sock), undefined, 'not a socket');

  assert.equal(checked(t, service), undefined, 'not where sshd puts agent sockets');
  assert.ok(checked(t, real.sock), 'while the real one passes');
});
