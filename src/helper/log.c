#define _GNU_SOURCE
#include "log.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "config.h"
#include "trust.h"
#include "util.h"

static int log_fd = -1;
static char host[65];
static uint64_t written; /* bytes this process appended */

/* Open the log file in dfd for appending; -1 if it can't be, or if it is not
 * a regular file root's alone to write. */
static int open_log_file(int dfd, const char *file) {
  int fd = RETRY(openat(dfd, file, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))) {
    close(fd);
    return -1;
  }
  return fd;
}

void log_open(void) {
  char dir[256];
  xsnprintf(dir, sizeof dir, "%s", CELLSH_LOG_PATH);
  *strrchr(dir, '/') = '\0';
  cleanup_fd int dfd = trusted_mkdir(dir, 0750);
  /* Read access too: an event checks the last byte (mid_line). */
  log_fd = RETRY(openat(dfd, strrchr(CELLSH_LOG_PATH, '/') + 1, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
  if (log_fd >= 0)
    trusted_check_fd(log_fd, CELLSH_LOG_PATH);
  struct utsname u;
  if (uname(&u) == 0)
    xsnprintf(host, sizeof host, "%s", u.nodename);
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one:
 * no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629). */
static size_t utf8_len(const unsigned char *p) {
  if (p[0] < 0x80)
    return 1;
  size_t n = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3
                                     : (p[0] & 0xf8) == 0xf0   ? 4
                                                               : 0;
  if (n == 0 || (n == 2 && p[0] < 0xc2) || (n == 4 && p[0] > 0xf4))
    return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) || (p[0] == 0xf0 && p[1] < 0x90) ||
      (p[0] == 0xf4 && p[1] >= 0x90))
    return 0;
  return n;
}

static void put(struct log_fields *f, const char *s, size_t n) {
  if (f->n + n > sizeof f->buf) {
    f->overflow = true;
    return;
  }
  memcpy(f->buf + f->n, s, n);
  f->n += n;
}

/* The code point of a valid 2- or 3-byte UTF-8 sequence (utf8_len said so). */
static uint32_t utf8_point(const unsigned char *p, size_t len) {
  return len == 2 ? (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f)
                  : (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
}

/* Characters that drive or fool a terminal though they are valid text: the C1
 * controls (U+009B is CSI), the bidirectional overrides and isolates (which
 * reorder what an admin reads, "Trojan Source", CVE-2021-42574) and the line
 * and paragraph separators. */
static bool terminal_control(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

/* A JSON string: quotes, backslashes, control bytes and terminal controls
 * escaped, invalid UTF-8 replaced, so a command can never forge a field or a
 * line, nor drive the terminal of an admin reading the log (SA-33). */
static bool put_json_string(struct log_fields *f, const char *s) {
  put(f, "\"", 1);
  size_t start = f->n;
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    if (f->n - start >= LOG_VALUE_MAX) {
      put(f, "\"", 1);
      return true;
    }
    size_t len = utf8_len(p);
    char esc[8];
    if (len == 0) {
      put(f, "\\ufffd", 6);
      p++;
    } else if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p++;
      put(f, esc, 2);
    } else if (*p < 0x20 || *p == 0x7f) {
      snprintf(esc, sizeof esc, "\\u%04x", *p++);
      put(f, esc, 6);
    } else if ((len == 2 || len == 3) && terminal_control(utf8_point(p, len))) {
      snprintf(esc, sizeof esc, "\\u%04x", (unsigned)utf8_point(p, len));
      put(f, esc, 6);
      p += len;
    } else {
      put(f, (const char *)p, len);
      p += len;
    }
  }
  put(f, "\"", 1);
  return false;
}

static void put_key(struct log_fields *f, const char *key) {
  put(f, ",", 1);
  put_json_string(f, key);
  put(f, ":", 1);
}

void log_str(struct log_fields *f, const char *key, const char *value) {
  put_key(f, key);
  if (put_json_string(f, value)) {
    char k[64];
    xsnprintf(k, sizeof k, "%s_truncated", key);
    log_bool(f, k, true);
  }
}

void log_num(struct log_fields *f, const char *key, int64_t value) {
  char num[24];
  int n = snprintf(num, sizeof num, "%" PRId64, value);
  put_key(f, key);
  put(f, num, (size_t)n);
}

void log_bool(struct log_fields *f, const char *key, bool value) {
  put_key(f, key);
  put(f, value ? "true" : "false", value ? 4 : 5);
}

/* The log was rotated (renamed away, a new file in its place): a session's
 * monitor, which may outlive several rotations, follows it, so its exit event
 * lands in the current file and not in one about to be compressed and removed. */
static void follow_rotation(void) {
  struct stat have, now;
  if (fstat(log_fd, &have) < 0 || (stat(CELLSH_LOG_PATH, &now) == 0 && now.st_ino == have.st_ino && now.st_dev == have.st_dev))
    return;
  const char *slash = strrchr(CELLSH_LOG_PATH, '/');
  char dir[256];
  xsnprintf(dir, sizeof dir, "%.*s", (int)(slash - CELLSH_LOG_PATH), CELLSH_LOG_PATH);
  cleanup_fd int dfd = RETRY(open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat ds;
  if (dfd < 0 || fstat(dfd, &ds) < 0 || ds.st_uid != 0 || (ds.st_mode & (S_IWGRP | S_IWOTH)))
    return; /* keep writing where we were */
  int fd = open_log_file(dfd, slash + 1);
  if (fd >= 0 && dup3(fd, log_fd, O_CLOEXEC) >= 0)
    close(fd);
  else if (fd >= 0)
    close(fd);
}

/* Does the log end in the middle of a line (a write cut short by a full disk,
 * say)? Then the next event starts a line of its own, and stays readable. */
static bool mid_line(void) {
  struct stat st;
  char last;
  return fstat(log_fd, &st) == 0 && st.st_size > 0 && pread(log_fd, &last, 1, st.st_size - 1) == 1 && last != '\n';
}

void log_close(void) {
  if (log_fd >= 0)
    close(log_fd);
  log_fd = -1;
}

uint64_t log_written(void) { return written; }

void log_event(const char *event, const struct log_fields *f) {
  if (log_fd < 0)
    return;
  follow_rotation();
  static struct log_fields line;
  memset(&line, 0, sizeof line);
  if (mid_line())
    put(&line, "\n", 1);
  char head[96];
  int n = snprintf(head, sizeof head, "{\"level\":30,\"time\":%" PRIu64 ",\"pid\":%d", now_ms(), (int)getpid());
  put(&line, head, (size_t)n);
  log_str(&line, "hostname", host);
  log_str(&line, "event", event);
  if (f) {
    put(&line, f->buf, f->n);
    line.overflow |= f->overflow;
  }
  log_str(&line, "msg", event);
  put(&line, "}\n", 2);
  /* One write(2) on an O_APPEND fd: concurrent sessions never interleave lines. */
  if (!line.overflow && write_all(log_fd, line.buf, line.n))
    written += line.n;
}
