// Three programs — a static launcher that scrubs the environment
// before any interpreter starts, the Node login shell (as the user, fixed flags
// and script), and the setuid helper as the only privileged code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { markerPayloads } from '../helpers/payloads.js';
import { join } from 'node:path';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { createUser, asUser } from '../helpers/users.js';
import { must, run, waitFor } from '../helpers/system.js';
import { interactiveLogin } from '../helpers/session.js';

const inst = testInstall();
const skip = skipReason(inst);

test('the launcher clears LD_PRELOAD and NODE_OPTIONS before any loader or Node runs', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p2-env');
  mustApply(inst!);
  const p = markerPayloads(t);
  // env(1) sets the variables for the last program only, as sshd's PAM would.
  const hostile = [`LD_PRELOAD=${p.so}`, `NODE_OPTIONS=--require=${p.js}`, `NODE_PATH=${p.dir}`];
  // Negative controls: the payloads do run in an ordinary dynamic program and in Node.
  await asUser(user, '/usr/bin/env', [...hostile, '/bin/true']);
  assert.ok(existsSync(p.soMarker), 'control: LD_PRELOAD works on a dynamic binary');
  rmSync(p.soMarker);
  await asUser(user, '/usr/bin/env', [`NODE_OPTIONS=--require=${p.js}`, process.execPath, '-e', '0']);
  assert.ok(existsSync(p.jsMarker), 'control: NODE_OPTIONS works on plain node');
  rmSync(p.jsMarker);

  const r = await asUser(user, '/usr/bin/env', [...hostile, inst!.launcher, '-c', 'echo ok']);
  assert.equal(r.out, 'ok\n', r.err);
  assert.ok(!existsSync(p.soMarker), 'LD_PRELOAD must not run in the launcher or anything after it');
  assert.ok(!existsSync(p.jsMarker), 'NODE_OPTIONS must not reach Node');
});

/** The Node process of a user's interactive login (the script it runs, by uid and cmdline). */
async function loginNode(uid: number, script: string): Promise<string> {
  return waitFor(`the login's node process (${script})`, () => {
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        if (
          new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(status) &&
          cmd.some((a) => a.endsWith(`/dist/src/cli/${script}`))
        )
          return pid;
      } catch {
        /* gone */
      }
    }
    return undefined;
  });
}

// Both routes of an interactive login: the launcher's early start (helper
// started first, Node only relays: no eval switch needed, it parses nothing)
// and the full login shell (a user with settings of their own, which Node
// parses: eval and new Function switched off).
for (const route of [
  { name: 'early start', script: 'attached.js', policy: undefined, flags: ['--no-warnings'] },
  {
    name: 'login shell',
    script: 'login.js',
    policy: 'user_may_set: [hostname]',
    flags: ['--disallow-code-generation-from-strings', '--no-warnings'],
  },
]) {
  test(`Node (${route.name}) runs as the user, with fixed flags and script, HOME at a root folder, cwd /`, {
    skip,
  }, async (t) => {
    const user = createUser(t, inst!, route.script === 'login.js' ? 'p2-node' : 'p2-early');
    mustApply(inst!, route.policy ? `users:\n  ${user.name}:\n    ${route.policy}\n` : undefined);
    const term = await interactiveLogin(user);
    t.after(() => term.kill());
    const nodePid = await loginNode(user.uid, route.script);
    const cmdline = readFileSync(`/proc/${nodePid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const script = join(inst!.libDir, 'dist/src/cli', route.script);
    assert.deepEqual(cmdline.slice(1, route.flags.length + 3), [...route.flags, script, '--']);
    const env = readFileSync(`/proc/${nodePid}/environ`, 'utf8').split('\0').filter(Boolean);
    assert.ok(env.includes(`HOME=${inst!.libDir}`), env.join(' '));
    assert.ok(!env.some((e) => /^(LD_|NODE_)/.test(e)), env.join(' '));
    assert.equal(run('readlink', [`/proc/${nodePid}/cwd`]).out.trim(), '/');
    const status = readFileSync(`/proc/${nodePid}/status`, 'utf8');
    assert.match(
      status,
      new RegExp(`^Uid:\\s+${user.uid}\\s+${user.uid}\\s+${user.uid}\\s+${user.uid}$`, 'm'),
      'Node never runs as root',
    );
    await term.type('exit\r');
    await term.exited;
  });
}

test('the launcher refuses to run as root (a login never runs Node as root)', { skip }, () => {
  const r = run(inst!.launcher, ['-c', 'true']);
  assert.equal(r.status, 77);
  assert.match(r.err, /does not serve root/);
});

test('the helper is the only setuid program, static, root-owned, runnable by the cellsh group only', { skip }, () => {
  const st = statSync(inst!.helper);
  assert.equal(st.uid, 0);
  assert.equal(st.mode & 0o7777, 0o4750);
  assert.equal(st.gid, Number(must('getent', ['group', inst!.group]).out.split(':')[2]));
  const setuid = must('find', [inst!.prefix, '-perm', '-4000', '-o', '-perm', '-2000']).out.trim().split('\n');
  assert.deepEqual(setuid, [inst!.helper]);
  for (const bin of [inst!.helper, inst!.launcher]) {
    assert.doesNotMatch(must('readelf', ['-lW', bin]).out, /INTERP/, `${bin} must have no dynamic loader`);
    assert.doesNotMatch(must('readelf', ['-dW', bin]).out, /NEEDED/, `${bin} must load no library`);
  }
  assert.equal(statSync(inst!.launcher).mode & 0o7777, 0o755, 'the launcher is not setuid');
});

test('a user outside the cellsh group cannot run the helper at all', { skip }, async (t) => {
  const outsider = createUser(t, inst!, 'p2-out', { enrolled: false });
  mustApply(inst!);
  const r = await asUser(outsider, inst!.helper, ['run', 'id']);
  assert.notEqual(r.status, 0);
  assert.match(r.err, /Permission denied/);
});
