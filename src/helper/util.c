#define _GNU_SOURCE
#include "util.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

const char *prog_name = "cellsh";
void (*die_hook)(int code, const char *msg);

static NORETURN void vdie(int code, bool with_errno, const char *fmt, va_list ap) {
  int saved = errno;
  char msg[1024];
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  if (with_errno && n >= 0 && (size_t)n < sizeof msg)
    snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(saved));
  if (die_hook) {
    void (*hook)(int, const char *) = die_hook;
    die_hook = NULL; /* a failure inside the hook must not recurse */
    hook(code, msg);
  }
  dprintf(STDERR_FILENO, "%s: %s\n", prog_name, msg);
  _exit(code);
}

void die(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdie(code, false, fmt, ap);
}

void die_errno(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdie(code, true, fmt, ap);
}

void close_fd_ptr(int *fd) {
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
  }
}

void free_ptr(void *p) { free(*(void **)p); }

bool write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = RETRY(write(fd, p, len));
    if (n <= 0)
      return false;
    p += n;
    len -= (size_t)n;
  }
  return true;
}

char *read_fd(int fd, size_t max, size_t *len) {
  char *buf = malloc(max + 1);
  if (!buf)
    return NULL;
  size_t got = 0;
  for (;;) {
    ssize_t n = RETRY(read(fd, buf + got, max + 1 - got));
    if (n < 0) {
      free(buf);
      return NULL;
    }
    if (n == 0)
      break;
    got += (size_t)n;
    if (got > max) {
      free(buf);
      errno = EFBIG;
      return NULL;
    }
  }
  buf[got] = '\0';
  if (len)
    *len = got;
  return buf;
}

char *read_small_at(int dirfd, const char *path, size_t max, size_t *len) {
  cleanup_fd int fd = RETRY(openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY));
  return fd < 0 ? NULL : read_fd(fd, max, len);
}

bool write_file_at(int dirfd, const char *path, const char *s) {
  cleanup_fd int fd = RETRY(openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY));
  return fd >= 0 && write_all(fd, s, strlen(s));
}

bool parse_u64(const char *s, uint64_t *out) {
  if (!s || *s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0'))
    return false;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return false;
    unsigned d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool parse_u32(const char *s, uint32_t *out) {
  uint64_t v;
  if (!parse_u64(s, &v) || v > UINT32_MAX)
    return false;
  *out = (uint32_t)v;
  return true;
}

void xsnprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= size)
    die(EXIT_INTERNAL, "internal error: a %zu-byte buffer is too small", size);
}

void random_hex(char *buf, size_t n) {
  unsigned char raw[32];
  if (n > sizeof raw || getrandom(raw, n, 0) != (ssize_t)n)
    die_errno(EXIT_INTERNAL, "can't read random bytes");
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    buf[2 * i] = digits[raw[i] >> 4];
    buf[2 * i + 1] = digits[raw[i] & 15];
  }
  buf[2 * n] = '\0';
}

uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
