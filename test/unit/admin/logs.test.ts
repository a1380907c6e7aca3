// `cellsh-admin logs` on a temp log file: the human form, --user, --lines,
// --json, lines that are not records, and --follow across a rotation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { humanLine, runLogs, type LogsOptions } from '../../../src/admin/logs.js';
import { tempLayout, textSink } from '../../helpers/fixtures.js';

const T0 = new Date(2026, 10, 22, 10, 31, 2).getTime();
const rec = (event: string, fields: Record<string, unknown>, dt = 0): string =>
  JSON.stringify({ level: 30, time: T0 + dt, pid: 42, hostname: 'box', event, ...fields, msg: event }) + '\n';
const LOG = [
  rec('login', { user: 'alice', uid: 1001, session: 's1', mode: 'command', tty: false, command: 'ls -l' }),
  rec('container-start', { user: 'alice', uid: 1001, session: 's1', container: 'c1', init_pid: 77 }, 1000),
  rec('denied', { uid: 1002, user: 'bob', code: 77, reason: 'not enrolled' }, 2000),
  'garbage line\n',
  rec('oom', { user: 'alice', uid: 1001, session: 's1', container: 'c1', limit: '64M', count: 1 }, 3000),
].join('');

async function logs(file: string, opts: Partial<LogsOptions> = {}): Promise<string> {
  const out = textSink();
  assert.equal(await runLogs({ file, follow: false, json: false, out, ...opts }), 0);
  return out.text();
}

test('a log record for a person: local time, event, user, then the fields', () => {
  assert.equal(humanLine(JSON.parse(rec('login', { user: 'alice', uid: 1001, session: 's1', command: 'ls -l' })) as Record<string, unknown>),
    '2026-11-22 10:31:02  login             alice         session=s1  command="ls -l"');
  assert.equal(humanLine({ level: 50, time: T0, event: 'error', uid: 5, reason: 'x' }),
    '2026-11-22 10:31:02  error             uid 5         error  reason=x');
});

test('every line, --user by name or uid, --lines, --json', async () => {
  const tmp = tempLayout();
  try {
    const file = join(tmp.root, 'cellsh.log');
    writeFileSync(file, LOG);
    const all = (await logs(file)).split('\n');
    assert.equal(all.length, 6);
    assert.equal(all[0], '2026-11-22 10:31:02  login             alice         session=s1  mode=command  tty=false  command="ls -l"');
    assert.equal(all[3], '(not a log record) garbage line');
    const alice = await logs(file, { user: 'alice' });
    assert.deepEqual(alice.split('\n').map((l) => l.split(/ {2,}/)[1]), ['login', 'container-start', 'oom', undefined]);
    assert.equal(await logs(file, { user: '1002' }), (await logs(file, { user: 'bob' })));
    assert.match(await logs(file, { user: '1002' }), /denied +bob +code=77 {2}reason="not enrolled"\n$/);
    assert.equal((await logs(file, { user: 'alice', lines: 1 })).split('\n')[0]!.split(/ {2,}/)[1], 'oom');
    const json = (await logs(file, { user: 'alice', json: true })).trimEnd().split('\n').map((l) => JSON.parse(l).event);
    assert.deepEqual(json, ['login', 'container-start', 'oom']);
    assert.equal(await logs(join(tmp.root, 'missing.log')), '');
  } finally {
    tmp.remove();
  }
});

test('--follow prints what is appended, a line only once it is complete, and goes on after a rotation', async () => {
  const tmp = tempLayout();
  const file = join(tmp.root, 'cellsh.log');
  const stop = new AbortController();
  try {
    writeFileSync(file, rec('login', { user: 'alice', uid: 1001 }));
    const out = textSink();
    const running = runLogs({ file, follow: true, json: true, out, signal: stop.signal, pollMs: 20 });
    const waitFor = async (n: number): Promise<string[]> => {
      for (let i = 0; i < 250; i++) {
        const lines = out.text().split('\n').filter(Boolean);
        if (lines.length >= n) return lines;
        await sleep(20);
      }
      assert.fail(`only ${out.text().split('\n').filter(Boolean).length} of ${n} lines arrived`);
    };
    await waitFor(1);
    const half = rec('exit', { user: 'alice', uid: 1001, status: 0 });
    appendFileSync(file, half.slice(0, 20));
    await sleep(100);
    assert.equal(out.text().split('\n').filter(Boolean).length, 1, 'half a line is not printed');
    appendFileSync(file, half.slice(20));
    await waitFor(2);
    renameSync(file, file + '.1');
    writeFileSync(file, rec('container-stop', { uid: 1001, container: 'c1', by_uid: 0 }));
    const lines = await waitFor(3);
    assert.deepEqual(lines.map((l) => JSON.parse(l).event), ['login', 'exit', 'container-stop']);
    stop.abort();
    assert.equal(await running, 0);
  } finally {
    stop.abort();
    tmp.remove();
  }
});
