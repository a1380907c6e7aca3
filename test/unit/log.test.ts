// The audit log cellsh-admin writes: a folder and file made private, JSON lines
// appended (never truncating what the helper wrote before), each event with
// pino's fields, all on disk once closed.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { logEvent, logRecordProblem, openAuditLog } from '../../src/log.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-t-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("the audit log's folder and file are made: the file for its owner alone, the folder closed to others", (t) => {
  const file = join(tempDir(t), 'var', 'log', 'cellsh', 'cellsh.log');
  const audit = openAuditLog(file);
  audit.close();
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(file, '..')).mode & 0o007, 0, 'the folder is closed to others');
});

test('events are appended as JSON lines after what the log held, and are on disk once closed', (t) => {
  const file = join(tempDir(t), 'cellsh.log');
  const before = '{"event":"login","by":"the helper"}\n';
  writeFileSync(file, before, { mode: 0o600 });
  const audit = openAuditLog(file);
  logEvent(audit.log, 'enroll', { user: 'alice', uid: 1001, by_uid: 0 });
  logEvent(audit.log, 'policy-apply', { files: ['/etc/cellsh/policy.yaml'], users: 2, by_uid: 0 });
  audit.close();
  const text = readFileSync(file, 'utf8');
  assert.ok(text.startsWith(before), 'what was there is kept');
  const lines = text
    .slice(before.length)
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    lines.map((r) => [r['event'], r['msg'], r['level'], r['pid'], r['hostname']]),
    [
      ['enroll', 'enroll', 30, process.pid, hostname()],
      ['policy-apply', 'policy-apply', 30, process.pid, hostname()],
    ],
  );
  assert.deepEqual(
    [lines[0]!['user'], lines[0]!['uid'], lines[1]!['files']],
    ['alice', 1001, ['/etc/cellsh/policy.yaml']],
  );
  for (const r of lines) assert.equal(logRecordProblem(r), undefined, JSON.stringify(r));
});
