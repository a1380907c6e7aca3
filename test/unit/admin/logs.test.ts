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
  assert.equal(
    humanLine(
      JSON.parse(rec('login', { user: 'alice', uid: 1001, session: 's1', command: 'ls -l' })) as Record<
        string,
        unknown
      >,
    ),
    '2026-11-22 10:31:02  login             alice         session=s1  command="ls -l"',
  );
  assert.equal(
    humanLine({ level: 50, time: T0, event: 'error', uid: 5, reason: 'x' }),
    '2026-11-22 10:31:02  error             uid 5         error  reason=x',
  );
});

test('every line, --user by name or uid, --lines, --json', async () => {
  const tmp = tempLayout();
  try {
    const file = join(tmp.root, 'cellsh.log');
    writeFileSync(file, LOG);
    const all = (await logs(file)).split('\n');
    assert.equal(all.length, 6);
    assert.equal(
      all[0],
      '2026-11-22 10:31:02  login             alice         session=s1  mode=command  tty=false  command="ls -l"',
    );
    assert.equal(all[3], '(not a log record) garbage line');
    const alice = await logs(file, { user: 'alice' });
    assert.deepEqual(
      alice.split('\n').map((l) => l.split(/ {2,}/)[1]),
      ['login', 'container-start', 'oom', undefined],
    );
    assert.equal(await logs(file, { user: '1002' }), await logs(file, { user: 'bob' }));
    assert.match(await logs(file, { user: '1002' }), /denied +bob +code=77 {2}reason="not enrolled"\n$/);
    assert.equal((await logs(file, { user: 'alice', lines: 1 })).split('\n')[0]!.split(/ {2,}/)[1], 'oom');
    const json = (await logs(file, { user: 'alice', json: true }))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).event);
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
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).event),
      ['login', 'exit', 'container-stop'],
    );
    stop.abort();
    assert.equal(await running, 0);
  } finally {
    stop.abort();
    tmp.remove();
  }
});

/** Every character that can drive or fool a terminal, as it would reach it raw:
 * C0 (newlines aside: they end lines), DEL, C1, bidi controls, line separators, lone surrogates. */
const TERMINAL_UNSAFE =
  /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** What a user could put in their command: CSI as the C1 byte pair 0xC2 0x9B, ESC [, RLO,
 * a newline, BEL, DEL, U+2028, LRI, ALM, then bytes that are not UTF-8 (0xFF, overlong 0xC0 0xAF). */
const HOSTILE = 'a\u009b31mb\u001b[2Jc\u202ed\ne\u0007f\u007fg\u2028h\u2066i\u061cj';
const BAD_BYTES = Buffer.from([0xff, 0xc0, 0xaf]);

/** A log file with one record whose command (and a key, and the user) hold HOSTILE and
 * BAD_BYTES, and one line that is not a record holding the same (a CR for the newline). */
function hostileLog(file: string): Buffer {
  const line = rec('login', {
    user: `al\u202eice`,
    uid: 1001,
    '\u001b[31mkey': 1,
    command: `${HOSTILE}@BAD@k`,
  }).trimEnd();
  const [before, after] = line.split('@BAD@') as [string, string];
  const record = Buffer.concat([Buffer.from(before), BAD_BYTES, Buffer.from(after), Buffer.from('\n')]);
  const garbage = Buffer.concat([Buffer.from(`not json ${HOSTILE.replace('\n', '\r')}`), BAD_BYTES, Buffer.from('\n')]);
  writeFileSync(file, Buffer.concat([record, garbage]));
  return record;
}

function assertTerminalSafe(text: string): void {
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'the output ends with a newline');
  for (const line of lines) {
    const bad = TERMINAL_UNSAFE.exec(line);
    assert.equal(
      bad,
      null,
      `U+${(bad?.[0] ?? '').charCodeAt(0).toString(16).padStart(4, '0')} reached the terminal raw in: ${JSON.stringify(line)}`,
    );
  }
}

test("what users wrote reaches the admin's terminal escaped: controls, C1, bidi, bad UTF-8", async () => {
  const tmp = tempLayout();
  try {
    const file = join(tmp.root, 'cellsh.log');
    hostileLog(file);
    const human = await logs(file);
    assertTerminalSafe(human);
    const [record, garbage] = human.split('\n');
    assert.equal(
      record,
      '2026-11-22 10:31:02  login             "al\\u202eice"  "\\u001b[31mkey"=1  ' +
        'command="a\\u009b31mb\\u001b[2Jc\\u202ed\\ne\\u0007f\\u007fg\\u2028h\\u2066i\\u061cj\\xff\\xc0\\xafk"',
    );
    assert.equal(
      garbage,
      '(not a log record) not json a\\u009b31mb\\u001b[2Jc\\u202ed\\re\\u0007f\\u007fg\\u2028h\\u2066i\\u061cj\\xff\\xc0\\xaf',
    );
    assert.equal(human.split('\n').length, 3, 'the newline in the command does not start a line');
  } finally {
    tmp.remove();
  }
});

test('--json stays valid JSON with the same record, escaped (bytes that are not UTF-8 read as U+FFFD)', async () => {
  const tmp = tempLayout();
  try {
    const file = join(tmp.root, 'cellsh.log');
    const raw = hostileLog(file);
    const json = await logs(file, { json: true });
    assertTerminalSafe(json);
    const [record, garbage] = json.split('\n');
    assert.match(record!, /^[\x20-\x7e\ufffd]+$/, 'every unsafe character in the JSON is a \\u escape');
    const expected = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    assert.equal(expected['command'], `${HOSTILE}\ufffd\ufffd\ufffdk`);
    assert.deepEqual(JSON.parse(record!), expected);
    assert.equal(
      garbage,
      'not json a\\u009b31mb\\u001b[2Jc\\u202ed\\re\\u0007f\\u007fg\\u2028h\\u2066i\\u061cj\\xff\\xc0\\xaf',
    );
    assert.equal(await logs(file, { json: true, user: 'al\u202eice' }), `${record}\n`, '--user matches the real name');
  } finally {
    tmp.remove();
  }
});

test('a line that is JSON but not an object is shown as not a record', async () => {
  const tmp = tempLayout();
  try {
    const file = join(tmp.root, 'cellsh.log');
    writeFileSync(file, 'null\n[1]\n"x"\n');
    assert.equal(await logs(file), '(not a log record) null\n(not a log record) [1]\n(not a log record) "x"\n');
  } finally {
    tmp.remove();
  }
});

test('--follow keeps a character cut between two reads whole', async () => {
  const tmp = tempLayout();
  const file = join(tmp.root, 'cellsh.log');
  const stop = new AbortController();
  try {
    const line = Buffer.from(rec('exit', { user: 'alice', uid: 1001, note: 'é' }));
    const cut = line.indexOf(Buffer.from('é')) + 1;
    writeFileSync(file, line.subarray(0, cut));
    const out = textSink();
    const running = runLogs({ file, follow: true, json: true, out, signal: stop.signal, pollMs: 20 });
    await sleep(100);
    appendFileSync(file, line.subarray(cut));
    for (let i = 0; i < 250 && out.text() === ''; i++) await sleep(20);
    stop.abort();
    assert.equal(await running, 0);
    assert.equal((JSON.parse(out.text()) as Record<string, unknown>)['note'], 'é');
  } finally {
    stop.abort();
    tmp.remove();
  }
});
