// Interactive logins, commands and a dropped connection, through a real sshd
// in both deployments:
// cellsh as the login shell in /etc/passwd (sshd runs "cellsh -c CMD"), and
// cellsh as sshd's ForceCommand with the user's passwd shell left as /bin/sh
// (sshd runs "sh -c cellsh", the request in SSH_ORIGINAL_COMMAND).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { skipReason, testInstall } from '../helpers/install.js';
import { run, waitFor } from '../helpers/system.js';
import { deploy, sshSkipReason } from '../helpers/sshd.js';
import { promptOf, stripControls } from '../helpers/session.js';

const inst = testInstall();
const skip = skipReason(inst) || sshSkipReason();

const MODES = ['login-shell', 'force-command'] as const;

for (const mode of MODES) {
  test(`ssh: (${mode}) ssh -t gives an interactive login inside: tty, tmux, resize, Ctrl-C, clean logout`, {
    skip,
  }, async (t) => {
    const { user, sshd } = await deploy(t, inst!, mode, `s1${mode[0]}`);
    const term = sshd.terminal(user, [], { cols: 100, rows: 30 });
    t.after(() => term.kill());
    await term.expect(promptOf(user), 30_000);
    const type = async (cmd: string): Promise<string> => {
      const tag = `__t${Math.random().toString(36).slice(2, 7)}`;
      await term.type(`${cmd}; echo ${tag}_$((1+1))\r`);
      return stripControls((await term.expect(new RegExp(`([\\s\\S]*?)${tag}_2\\r?\\n`)))[1]!);
    };
    assert.match(await type('tty; cat /proc/1/comm; stty size'), /\/dev\/pts\/\d+\ncellsh-init\n30 100/);
    term.resize(120, 40);
    await new Promise((r) => setTimeout(r, 300));
    assert.match(await type('stty size'), /40 120/);
    await term.type('tmux new-session -s s\r');
    await term.expect('[s] 0:bash*');
    term.send('\x02d');
    await term.expect('[detached');
    assert.match(await type('tmux ls; tmux kill-server'), /^s: 1 windows/m);
    await term.type('sleep 1000\r');
    await new Promise((r) => setTimeout(r, 300));
    term.send('\x03');
    assert.match(await type('echo status=$?'), /status=130/);
    await term.type('exit\r');
    assert.equal((await term.exited).exitCode, 0, 'logout ends the ssh session cleanly');
  });

  test(`ssh: (${mode}) ssh host cmd: no pty, byte-exact stdout and stderr (100 MB), stdin EOF, exit status`, {
    skip,
  }, async (t) => {
    const { user, sshd } = await deploy(t, inst!, mode, `s2${mode[0]}`);
    const data = randomBytes(100 * 1024 * 1024);
    const r = await sshd.ssh(user, ['cat; echo to-stderr >&2'], { input: data });
    assert.equal(r.status, 0, r.err);
    assert.equal(
      createHash('sha256').update(r.stdout).digest('hex'),
      createHash('sha256').update(data).digest('hex'),
      `${r.stdout.length} bytes came back`,
    );
    assert.equal(r.err, 'to-stderr\n');
    const tty = await sshd.ssh(user, ['tty; echo "in=$(wc -c)"'], { input: 'x'.repeat(12345) });
    assert.equal(tty.out, 'not a tty\nin=12345\n', 'no pty, and stdin reaches EOF');
    for (const [cmd, want] of [
      ['exit 42', 42],
      ['kill -TERM $$', 143],
      ['kill -KILL $$', 137],
      ['true', 0],
    ] as const) {
      const s = await sshd.ssh(user, [cmd]);
      assert.equal(s.status, want, `${cmd}: ${s.err}`);
      assert.equal(s.out, '', 'nothing extra on stdout');
    }
  });
}

test("ssh: when the connection drops, the session's processes get SIGHUP", { skip }, async (t) => {
  const { user, sshd } = await deploy(t, inst!, 'force-command', 's5hup');
  const term = sshd.terminal(user);
  t.after(() => term.kill());
  await term.expect(promptOf(user), 30_000);
  // As on any host: the hang-up reaches the login shell, which passes SIGHUP on to its jobs.
  await term.type(`sh -c 'trap "echo hup > ~/got-hup; exit 0" HUP; while :; do sleep 0.2; done' & sleep 301\r`);
  await waitFor('the foreground sleep', () => run('pgrep', ['-U', String(user.uid), '-f', '^sleep 301']).status === 0);
  const fg = run('pgrep', ['-U', String(user.uid), '-f', '^sleep 301']).out.trim();
  term.kill(); // the client dies: sshd sees the connection drop
  await waitFor('the job to record its SIGHUP', () => existsSync(`${user.home}/got-hup`), 15_000);
  await waitFor('the foreground job to end too', () => run('kill', ['-0', fg]).status !== 0, 15_000);
});
