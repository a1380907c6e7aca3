// The audit log: JSON lines in pino's format with a fixed event vocabulary.
// Session events (login, container-start/join, exit, denied, container-stop) are
// written by the helper itself, because it is the one component the user cannot
// tamper with (src/helper/log.c writes the same shape). Admin events are written
// here through pino. Loggers are always passed in, never imported.
import { openSync, closeSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import { LOG_EVENTS, type LogEventName } from './contract/index.js';

/** Every event name that may appear in the log (the contract's, which the helper shares). */
export const EVENTS = Object.keys(LOG_EVENTS) as LogEventName[];
export type EventName = LogEventName;

/** Fields each event carries besides pino's own (level, time, pid, hostname, msg): the
 * contract's LOG_EVENTS, typed. */
export interface EventFields {
  'login': {
    user: string;
    uid: number;
    session: string;
    mode: 'login' | 'command';
    tty: boolean;
    command?: string;
    ssh_connection?: string;
    user_settings?: string;
  };
  'container-start': { user: string; uid: number; session: string; container: string; init_pid: number };
  'container-join': { user: string; uid: number; session: string; container: string };
  'exit': {
    user: string;
    uid: number;
    session: string;
    container: string;
    status: number;
    signal?: number;
    duration_ms: number;
  };
  'denied': { uid: number; reason: string; code: number; user?: string; session?: string };
  'error': { uid: number; reason: string; code: number; user?: string; session?: string };
  'oom': { user: string; uid: number; session: string; container: string; limit: string; count: number };
  'pids-limit': { user: string; uid: number; session: string; container: string; limit: string; count: number };
  'container-stop': { uid: number; container: string; by_uid: number; user?: string };
  /** A login wrote changed limits into a running container's cgroup. */
  'limits-update': { user: string; uid: number; session: string; container: string; reason: string };
  /** A login joined a container whose settings wait for a restart (comma separated). */
  'restart-pending': { user: string; uid: number; session: string; container: string; pending: string };
  /** A login ended the container to start it with changed settings. */
  'container-restart': { user: string; uid: number; session: string; container: string; reason: string };
  'policy-apply': { files: string[]; users: number; by_uid: number };
  /** apply wrote sshd's forwarding drop-in (outcome: reloaded, not-running), or sshd -t refused it. */
  'sshd-forwarding': { file: string; outcome: 'reloaded' | 'not-running' | 'refused'; by_uid: number };
  'policy-rejected': { files: string[]; problems: number; by_uid: number };
  'enroll': { user: string; uid: number; by_uid: number };
  'unenroll': { user: string; uid: number; by_uid: number };
  /** reset deleted a user's persistent writable layer, which held `bytes` on disk. */
  'layer-reset': { user: string; uid: number; bytes: number; by_uid: number };
}

/** The contract's field names of an event, without the "?" of optional ones. */
type ContractFields<E extends EventName> = (typeof LOG_EVENTS)[E]['fields'][number] extends infer F
  ? F extends `${infer N}?`
    ? N
    : F
  : never;
/** A field EventFields and the contract disagree on (never when they agree). */
type FieldDrift = {
  [E in EventName]: Exclude<keyof EventFields[E], ContractFields<E>> | Exclude<ContractFields<E>, keyof EventFields[E]>;
}[EventName];
/** Fails to compile, naming the field, when EventFields drifts from the contract. */
const eventFieldsMatchTheContract: [FieldDrift] extends [never] ? true : FieldDrift = true;
void eventFieldsMatchTheContract;

/** A parsed log line. */
export type LogRecord = {
  [E in EventName]: {
    event: E;
    level: number;
    time: number;
    pid: number;
    hostname: string;
    msg: string;
  } & EventFields[E];
}[EventName];

/** pino's own fields, on every line. */
const PINO_FIELDS = ['level', 'time', 'pid', 'hostname', 'msg', 'event'];

/** Why a parsed log line is not an event as the contract describes it (a known
 * name, every field it must carry and none it may not; a string the helper cut
 * is marked "<field>_truncated"), or undefined if it is. */
export function logRecordProblem(record: Readonly<Record<string, unknown>>): string | undefined {
  const event = record['event'];
  if (typeof event !== 'string' || !Object.hasOwn(LOG_EVENTS, event)) return `unknown event ${JSON.stringify(event)}`;
  const fields: readonly string[] = LOG_EVENTS[event as LogEventName].fields;
  const missing = fields.filter((f) => !f.endsWith('?') && !(f in record));
  if (missing.length > 0) return `${event}: no ${missing.join(', ')}`;
  const known = new Set([...PINO_FIELDS, ...fields.map((f) => f.replace(/\?$/, ''))]);
  const extra = Object.keys(record).filter(
    (k) => !known.has(k) && !(k.endsWith('_truncated') && known.has(k.slice(0, -10))),
  );
  return extra.length > 0 ? `${event}: unexpected ${extra.join(', ')}` : undefined;
}

/** The logger type passed around. */
export type EventLogger = Logger;

/** Write one event through a logger. */
export function logEvent<E extends EventName>(log: EventLogger, event: E, fields: EventFields[E]): void {
  log.info({ event, ...fields } as Record<string, unknown>, event);
}

/** A pino logger appending to the audit log file (root only: the file is 0600). */
export function openAuditLog(file: string): { log: EventLogger; close(): void } {
  mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
  const fd = openSync(file, 'a', 0o600);
  const dest = pino.destination({ dest: fd, sync: true });
  const log = pino({ base: { pid: process.pid, hostname: hostnameOf() } }, dest);
  return {
    log,
    close: () => {
      dest.flushSync();
      closeSync(fd);
    },
  };
}

/** A logger that keeps records in memory, for tests. */
export function memoryLogger(): { log: EventLogger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const stream = {
    write(line: string) {
      records.push(JSON.parse(line) as Record<string, unknown>);
    },
  };
  return { log: pino({ base: { pid: process.pid, hostname: hostnameOf() } }, stream), records };
}

/** A logger that drops everything. */
export function silentLogger(): EventLogger {
  return pino({ level: 'silent' });
}

function hostnameOf(): string {
  return hostname();
}
