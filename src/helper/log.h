/* The audit log, written by the helper because it is the one component the
 * user can't tamper with: one JSON line per event in pino's format (level,
 * time, pid, hostname, then fields, then msg), appended to a root-only file
 * whose fd the user never gets (SA-09, SA-33). src/log.ts reads the same shape. */
#ifndef CELLSH_LOG_H
#define CELLSH_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_LINE_MAX 16384
#define LOG_VALUE_MAX 4096 /* bytes of escaped output per string; longer ones are cut,
                             with "<key>_truncated":true */

/* The fields of one event, built up before it is written. */
struct log_fields {
  char buf[LOG_LINE_MAX];
  size_t n;
  bool overflow; /* a put did not fit: the line is dropped rather than cut */
};

/* Open the log (as root) and remember the fd. An untrusted log folder is fatal
 * (EXIT_CONFIG); a log file that can't be written loses lines, not logins. */
void log_open(void);

/* Close the log: a process about to lose its privileges must not keep it
 * (a limit the user sets on the process could cut a line short). */
void log_close(void);

/* Bytes this process has appended so far (what budget.h charges). */
uint64_t log_written(void);

void log_str(struct log_fields *f, const char *key, const char *value);
void log_num(struct log_fields *f, const char *key, int64_t value);
void log_bool(struct log_fields *f, const char *key, bool value);

/* Append one line: {"level":30,"time":..,"pid":..,"hostname":..,"event":E,<fields>,"msg":E}. */
void log_event(const char *event, const struct log_fields *f);

#endif
