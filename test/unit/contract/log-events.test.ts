// The audit log's events as the contract lists them: what cellsh-admin writes
// through pino conforms, and a record with an unknown event, a missing field or
// one the contract does not list is named. (Integration tests check every line
// the helper writes the same way, in test/helpers/install.ts's logRecords.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LOG_EVENTS } from '../../../src/contract/index.js';
import { logEvent, logRecordProblem, memoryLogger } from '../../../src/log.js';

test("the events cellsh-admin writes through pino are the contract's, field for field", () => {
  const { log, records } = memoryLogger();
  logEvent(log, 'policy-apply', { files: ['/etc/cellsh/policy.yaml'], users: 3, by_uid: 0 });
  logEvent(log, 'sshd-forwarding', {
    file: '/etc/ssh/sshd_config.d/cellsh-forwarding.conf',
    outcome: 'reloaded',
    by_uid: 0,
  });
  logEvent(log, 'policy-rejected', { files: ['/etc/cellsh/policy.yaml'], problems: 2, by_uid: 0 });
  logEvent(log, 'enroll', { user: 'alice', uid: 1001, by_uid: 0 });
  logEvent(log, 'unenroll', { user: 'alice', uid: 1001, by_uid: 0 });
  logEvent(log, 'layer-reset', { user: 'alice', uid: 1001, bytes: 4096, by_uid: 0 });
  assert.deepEqual(
    records.map((r) => r['event']),
    Object.entries(LOG_EVENTS)
      .filter(([, e]) => e.by === 'admin')
      .map(([name]) => name),
  );
  for (const r of records) assert.equal(logRecordProblem(r), undefined, JSON.stringify(r));
});

test('a record with an unknown event, a missing field or an unlisted one is named', () => {
  const pino = { level: 30, time: 1, pid: 2, hostname: 'h', msg: 'exit' };
  const exit = {
    ...pino,
    event: 'exit',
    user: 'alice',
    uid: 1001,
    session: 's',
    container: 'c',
    status: 0,
    duration_ms: 5,
  };
  assert.equal(logRecordProblem(exit), undefined);
  assert.equal(logRecordProblem({ ...exit, signal: 9 }), undefined, 'an optional field');
  assert.equal(
    logRecordProblem({ ...exit, command: 'x', command_truncated: true, event: 'login', mode: 'command', tty: false }),
    'login: unexpected container, status, duration_ms',
  );
  assert.equal(logRecordProblem({ ...exit, event: 'exited' }), 'unknown event "exited"');
  const { status: _, ...noStatus } = exit;
  assert.equal(logRecordProblem(noStatus), 'exit: no status');
  assert.equal(logRecordProblem({ ...exit, secret: 1 }), 'exit: unexpected secret');
  assert.equal(
    logRecordProblem({ ...exit, status_truncated: true }),
    undefined,
    'a cut string is marked, not unexpected',
  );
});
