// The audit log can't be cut, glued, flooded or used against the admin who
// reads it: the events of a session are written by a process the user can't
// signal or limit; an event after a torn line starts a line of its own; what
// users typed can't drive the admin's terminal; each user's share of the log
// is bounded, and the log's rotation loses no event.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { logRecords, mustApply, skipReason, testInstall } from '../helpers/install.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { must, run, runAsync, setSysctl, waitFor, type Result } from '../helpers/system.js';
import { cellshCommand } from '../helpers/session.js';
import { childrenOf, pidsRunning, uidsOf } from '../helpers/processes.js';

const inst = testInstall();
const skip = skipReason(inst);

/** Run file as the user, directly (a host process of theirs). */
function asUser(user: TestUser, file: string, args: readonly string[]): Promise<Result> {
  return runAsync(
    '/usr/bin/setpriv',
    ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', '/usr/bin/env', file, ...args],
    { env: { PATH: '/usr/bin:/bin' }, input: '' },
  );
}

/** A session of the user's running `command` through the helper (as sshd's fast path would), and its monitor. */
async function session(
  t: TestContext,
  user: TestUser,
  command: string,
): Promise<{ done: Promise<Result>; monitor: number }> {
  const done = asUser(user, inst!.helper, ['run', command]);
  const monitor = await waitFor("the session's monitor", () =>
    pidsRunning(inst!.helper).find((p) => childrenOf(p).some((c) => uidsOf(c)?.[0] === user.uid)),
  );
  t.after(() => run('kill', ['-KILL', String(monitor)]));
  return { done, monitor };
}

/** The log's lines that are not whole JSON records. */
function tornLines(): string[] {
  return readFileSync(inst!.logFile, 'utf8')
    .split('\n')
    .filter((l) => {
      if (l === '') return false;
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
}

test("a user holding a host process can't cut or suppress the exit event of their session (prlimit, kill -9 of the monitor)", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'al-cut');
  mustApply(inst!);
  const { done, monitor } = await session(t, user, 'sleep 2; exit 7');
  // Room for a few bytes of the exit line only, then SIGKILL: either would lose it.
  const size = statSync(inst!.logFile).size;
  const limit = await asUser(user, '/usr/bin/prlimit', [`--pid=${monitor}`, `--fsize=${size + 40}`]);
  assert.notEqual(limit.status, 0, `prlimit on the monitor must fail: ${limit.out}`);
  const kill = await asUser(user, '/bin/kill', ['-KILL', String(monitor)]);
  assert.notEqual(kill.status, 0, 'kill -9 of the monitor must fail');
  assert.equal((await done).status, 7);
  assert.deepEqual(tornLines(), []);
  const exit = logRecords(inst!).filter((l) => l['uid'] === user.uid && l['msg'] === 'exit');
  assert.equal(exit.at(-1)?.['status'], 7, 'the exit event is there, whole');
});

test('an event after a torn line starts a line of its own, and logs --user still shows it', { skip }, async (t) => {
  const user = createUser(t, inst!, 'al-torn');
  mustApply(inst!);
  // A line cut short (a full disk, a crash): no newline at its end.
  appendFileSync(inst!.logFile, '{"level":30,"time":1,"event":"login","user":"cut-sh');
  t.after(() => {
    const whole = readFileSync(inst!.logFile, 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('{"level":30,"time":1,"event":"login","user":"cut-sh'));
    writeFileSync(inst!.logFile, whole.join('\n'));
  });
  const r = await cellshCommand(inst!, user, 'echo after-the-cut');
  assert.equal(r.status, 0, r.err);
  assert.deepEqual(
    tornLines(),
    ['{"level":30,"time":1,"event":"login","user":"cut-sh'],
    'only the torn fragment is not a record',
  );
  const shown = must(inst!.admin, ['logs', '--user', user.name]).out;
  assert.match(shown, /login .*command="echo after-the-cut"/);
});

test('a session that fails after it became the user is logged with why (its process no longer holds the log)', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'al-late');
  mustApply(inst!, `users:\n  ${user.name}:\n    shell: /usr/bin/cellsh-t-no-such-shell\n`);
  const r = await cellshCommand(inst!, user, 'true');
  assert.equal(r.status, 127, r.err);
  assert.match(r.err, /can't run your shell "\/usr\/bin\/cellsh-t-no-such-shell"/);
  const error = logRecords(inst!)
    .filter((l) => l['uid'] === user.uid && l['msg'] === 'error')
    .at(-1);
  assert.equal(error?.['code'], 127);
  assert.match(String(error?.['reason']), /can't run your shell/);
  assert.match(String(error?.['session']), /^[0-9a-f]{12}$/, 'with the session it ended');
});

/** The session's last error event, and its exit event. */
function failureOf(user: TestUser): { error?: Record<string, unknown>; exit?: Record<string, unknown> } {
  const mine = logRecords(inst!).filter((l) => l['uid'] === user.uid);
  const exit = mine.filter((l) => l['msg'] === 'exit').at(-1);
  const error = mine.filter((l) => l['msg'] === 'error' && l['session'] === exit?.['session']).at(-1);
  return { ...(error ? { error } : {}), ...(exit ? { exit } : {}) };
}

test('a session that fails in cellsh-inside is logged with why, unless fs.suid_dumpable would let the user write that line', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'al-inside');
  // Settings of the user's own take the Node path, whose channel sends the session through cellsh-inside.
  mustApply(
    inst!,
    `users:\n  ${user.name}:\n    shell: /usr/bin/cellsh-t-no-such-shell\n    user_may_set: [hostname]\n`,
  );
  const r = await cellshCommand(inst!, user, 'true');
  assert.equal(r.status, 127, r.err);
  assert.match(r.err, /can't run your shell "\/usr\/bin\/cellsh-t-no-such-shell"/);
  const logged = failureOf(user);
  assert.equal(logged.exit?.['status'], 127);
  assert.match(String(logged.error?.['reason']), /can't run your shell/, 'cellsh-inside reported it to the monitor');
  const cannot = setSysctl(t, '/proc/sys/fs/suid_dumpable', '1');
  if (cannot) return t.skip(cannot);
  const again = await cellshCommand(inst!, user, 'true');
  assert.equal(again.status, 127, again.err);
  assert.match(again.err, /can't run your shell/, 'the person is still told');
  const unreported = failureOf(user);
  assert.notEqual(unreported.exit?.['session'], logged.exit?.['session']);
  assert.equal(unreported.exit?.['status'], 127, 'the exit is logged');
  assert.equal(unreported.error, undefined, 'no line of the traceable process reaches the log');
});

test("a user's refused stop is logged under their uid and paid from their log budget", { skip }, async (t) => {
  const user = createUser(t, inst!, 'al-stop');
  mustApply(inst!);
  assert.equal((await cellshCommand(inst!, user, 'true')).status, 0);
  const bucket = (): number => Number(readFileSync(`${inst!.stateDir}/${user.uid}.budget`, 'utf8').split(' ')[2]);
  const before = bucket();
  const r = await asUser(user, inst!.helper, ['stop', '1']);
  assert.equal(r.status, 77);
  const denied = logRecords(inst!)
    .filter((l) => l['msg'] === 'denied' && /only root may stop/.test(String(l['reason'])))
    .at(-1);
  assert.equal(denied?.['uid'], user.uid, 'the refusal names the user who asked');
  assert.ok(bucket() < before, `the line was paid for (${before} -> ${bucket()})`);
});

test('a limit hit is logged once per container, not once per session', { skip }, async (t) => {
  const user = createUser(t, inst!, 'al-limits');
  mustApply(inst!, `users:\n  ${user.name}:\n    limits: {pids: 40}\n`);
  t.after(() => run(inst!.helper, ['stop', String(user.uid)]));
  const sessions = Array.from({ length: 5 }, () => asUser(user, inst!.helper, ['run', 'sleep 6']));
  await waitFor(
    'five sessions',
    () => pidsRunning(inst!.helper).filter((p) => childrenOf(p).some((c) => uidsOf(c)?.[0] === user.uid)).length === 5,
  );
  // One burst past the limit; every session's monitor sees the counter rise.
  await cellshCommand(inst!, user, 'for i in $(seq 60); do sleep 5 & done 2>/dev/null; wait');
  await Promise.all(sessions);
  const hits = logRecords(inst!).filter((l) => l['uid'] === user.uid && l['msg'] === 'pids-limit');
  assert.equal(hits.length, 1, `one pids-limit line for the container: ${JSON.stringify(hits)}`);
  assert.ok(Number(hits[0]!['count']) > 0);
});

test('C1 controls and bidirectional overrides in a command are escaped in the log file', { skip }, async (t) => {
  const user = createUser(t, inst!, 'al-c1');
  mustApply(inst!);
  const command = 'true \u009b31m \u202egnp.exe \u2066x\u2069 \u2028';
  assert.equal((await cellshCommand(inst!, user, command)).status, 0);
  const line = readFileSync(inst!.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`"uid":${user.uid}`) && l.includes('"event":"login"'))
    .at(-1)!;
  for (const raw of ['\u009b', '\u202e', '\u2066', '\u2069', '\u2028'])
    assert.ok(!line.includes(raw), `U+${raw.codePointAt(0)!.toString(16)} is not in the file raw`);
  assert.match(line, /\\u009b31m \\u202egnp\.exe \\u2066x\\u2069 \\u2028/);
  assert.equal(JSON.parse(line)['command'], command, 'the record still holds the command as typed');
});

test('a user who starts sessions faster than the log budget allows is refused, once logged, and the log stays bounded', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'al-flood');
  mustApply(inst!);
  const before = statSync(inst!.logFile).size;
  // Logins with 4 KiB commands, as fast as the helper goes: about 4.5 KiB of log each.
  const script = `
import subprocess, sys, time
cmd = "true " + "x" * 4096
start = time.monotonic()
codes = {}
for i in range(600):
    p = subprocess.run([sys.argv[1], "run", cmd], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    codes[p.returncode] = codes.get(p.returncode, 0) + 1
    if p.returncode == 77:
        last = p.stderr.decode().strip()
print(codes.get(0, 0), codes.get(77, 0), round(time.monotonic() - start, 2))
print(last)
`;
  const r = await asUser(user, '/usr/bin/python3', ['-c', script, inst!.helper]);
  const [ran, refused, seconds] = r.out.split('\n')[0]!.split(' ').map(Number);
  assert.ok(refused! > 0, `some logins were refused (${r.out})`);
  assert.match(r.out.split('\n')[1]!, /^cellsh: you have started sessions faster than the audit log allows/);
  const grew = statSync(inst!.logFile).size - before;
  // The burst, what refilled meanwhile, and the refusal line once a minute.
  const bound = 1024 * 1024 + 4096 * seconds! + 2 * 1024 + 8 * 1024;
  assert.ok(grew <= bound, `the log grew by ${grew} bytes for ${ran} logins in ${seconds} s (bound ${bound})`);
  const denied = logRecords(inst!).filter(
    (l) => l['uid'] === user.uid && l['msg'] === 'denied' && /faster than the audit log/.test(String(l['reason'])),
  );
  assert.ok(
    denied.length >= 1 && denied.length <= Math.ceil(seconds! / 60) + 1,
    `the refusal is logged once a minute (${denied.length})`,
  );
});

test('after the log is rotated, a session that outlived the rotation logs its exit in the new file', {
  skip,
}, async (t) => {
  const rule = `${inst!.root}/etc/logrotate.d/cellsh`;
  if (!existsSync('/usr/sbin/logrotate')) return t.skip('logrotate is not installed here');
  assert.ok(existsSync(rule), 'install.sh wrote the rule');
  assert.match(readFileSync(rule, 'utf8'), new RegExp(`^${inst!.logFile.replace(/[.]/g, '\\.')} \\{`, 'm'));
  const user = createUser(t, inst!, 'al-rotate');
  mustApply(inst!);
  const { done } = await session(t, user, 'sleep 3; exit 5');
  const state = `${inst!.root}/logrotate.state`;
  const dir = inst!.logFile.slice(0, inst!.logFile.lastIndexOf('/'));
  t.after(() => {
    // Put the run's log back together for the tests that follow.
    const rotated = readdirSync(dir)
      .filter((f) => f.startsWith('cellsh.log.'))
      .sort()
      .reverse();
    const text = rotated.map((f) => readFileSync(`${dir}/${f}`, 'utf8')).join('') + readFileSync(inst!.logFile, 'utf8');
    writeFileSync(inst!.logFile, text);
    for (const f of rotated) rmSync(`${dir}/${f}`);
    rmSync(state, { force: true });
  });
  must('/usr/sbin/logrotate', ['-f', '-s', state, rule]);
  assert.ok(existsSync(`${inst!.logFile}.1`), 'the log was rotated');
  assert.equal((await done).status, 5);
  const exit = readFileSync(inst!.logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l['uid'] === user.uid && l['msg'] === 'exit');
  assert.equal(exit?.['status'], 5, 'the exit event is in the current file');
});
