/* Small shared toolkit of the helper and the launcher: fatal errors, cleanup
 * attributes, checked I/O and strict number parsing. */
#ifndef CELLSH_UTIL_H
#define CELLSH_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "contract.h" /* the exit codes: EXIT_USAGE, EXIT_INTERNAL, EXIT_REFUSED, EXIT_CONFIG */

#define NORETURN __attribute__((noreturn))
#define PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Prefix of every message a person sees ("cellsh: ..."). */
extern const char *prog_name;

/* Called with the exit code and message before a fatal error exits (the audit
 * log uses it to record refusals). */
extern void (*die_hook)(int code, const char *msg);

/* What the helper tells the person goes to the caller's stderr. Until
 * say_prepare() that is a plain write (the caller's own process may block);
 * after it, nothing a caller set up can block or kill root code: a pipe gets a
 * non-blocking description of its own, a socket MSG_DONTWAIT, a file on a
 * FUSE mount (whose server the caller may run) nothing. What does not fit is
 * dropped: the audit log has it. */
void say_prepare(void);
/* Write len bytes of buf as above; errors are ignored. */
void say_write(const char *buf, size_t len);
/* Format and write, as above. */
PRINTF(1, 2)
void say(const char *fmt, ...);

/* The fd say_write uses (-1: none), to keep across close_all_but. */
int say_handle(void);
/* Back to plain writes on stderr: for a process that is the user's now. */
void say_reset(void);

/* Close every fd above stderr but those listed (-1 entries are ignored). */
void close_all_but(const int *keep, size_t n);

/* From now on a fatal error also writes "CODE MESSAGE" to fd (a session's
 * child to its monitor, which logs it), as die_hook. */
void die_report_to(int fd);

/* Print "cellsh: <message>" and exit with code. */
NORETURN PRINTF(2, 3) void die(int code, const char *fmt, ...);
/* Same, with ": <strerror(errno)>" appended. */
NORETURN PRINTF(2, 3) void die_errno(int code, const char *fmt, ...);

#define cleanup_fd __attribute__((cleanup(close_fd_ptr)))
#define cleanup_free __attribute__((cleanup(free_ptr)))
void close_fd_ptr(int *fd);
void free_ptr(void *p);
/* Hand a cleanup-managed fd to someone else. */
static inline int steal_fd(int *fd) {
  int r = *fd;
  *fd = -1;
  return r;
}

#define RETRY(expr) ({ long _r; do _r = (long)(expr); while (_r == -1 && errno == EINTR); _r; })

/* Write all of buf, retrying short writes; false on error. */
bool write_all(int fd, const void *buf, size_t len);
/* Read all of fd (at most max bytes) into a NUL-terminated malloc'd buffer;
 * NULL with errno set on failure, EFBIG if it is larger. */
char *read_fd(int fd, size_t max, size_t *len);
/* Read a whole small file (at most max bytes) at dirfd/path into a NUL-terminated
 * malloc'd buffer; NULL with errno set on failure or if it is larger. */
char *read_small_at(int dirfd, const char *path, size_t max, size_t *len);
/* Open dirfd/path (O_WRONLY, no follow) and write s; false on error. */
bool write_file_at(int dirfd, const char *path, const char *s);

/* Strict decimal parsing: no sign, no spaces, no trailing bytes, no overflow. */
bool parse_u64(const char *s, uint64_t *out);
bool parse_u32(const char *s, uint32_t *out);

/* snprintf that dies instead of truncating. */
PRINTF(3, 4)
void xsnprintf(char *buf, size_t size, const char *fmt, ...);

/* Fill buf with 2*n lowercase hex digits from the kernel's random source. */
void random_hex(char *buf, size_t n);

/* Milliseconds since the epoch (CLOCK_REALTIME). */
uint64_t now_ms(void);

#endif
