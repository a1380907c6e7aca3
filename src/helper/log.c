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

void log_open(void) {
  char dir[256], parent[256];
  xsnprintf(dir, sizeof dir, "%s", CELLSH_LOG_PATH);
  char *slash = strrchr(dir, '/');
  *slash = '\0'; /* dir: the log's folder */
  const char *file = CELLSH_LOG_PATH + (slash - dir) + 1;
  xsnprintf(parent, sizeof parent, "%s", dir);
  char *up = strrchr(parent, '/');
  *up = '\0';
  {
    /* Make the folder if it is missing (its parent must be root's alone). */
    cleanup_fd int pfd = trusted_dir(parent[0] ? parent : "/");
    if (mkdirat(pfd, dir + (up - parent) + 1, 0750) < 0 && errno != EEXIST)
      die_errno(EXIT_CONFIG, "can't create the log folder \"%s\"", dir);
  }
  cleanup_fd int dfd = trusted_dir(dir);
  log_fd = RETRY(openat(dfd, file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
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
  size_t n = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
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

/* A JSON string: quotes, backslashes and control bytes escaped, invalid UTF-8
 * replaced, so a command can never forge a field or a line (SA-33). */
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

void log_event(const char *event, const struct log_fields *f) {
  if (log_fd < 0)
    return;
  static struct log_fields line;
  memset(&line, 0, sizeof line);
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
  if (!line.overflow)
    (void)write_all(log_fd, line.buf, line.n);
}
