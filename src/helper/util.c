#define _GNU_SOURCE
#include "util.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

const char *prog_name = "cellsh";
void (*die_hook)(int code, const char *msg);

static int say_fd = STDERR_FILENO;
static bool say_socket;

/* Is fd's file on a FUSE mount? Answered from /proc/self/fdinfo (its mount
 * id) and /proc/self/mountinfo (that mount's type): asking the file system
 * itself (fstatfs) could wait on the FUSE server. Unknown counts as yes. */
static bool on_fuse(int fd) {
  char path[48];
  xsnprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  cleanup_free char *info = read_small_at(AT_FDCWD, path, 4096, NULL);
  const char *m = info ? strstr(info, "\nmnt_id:\t") : NULL;
  char id[16];
  if (!m || sscanf(m, "\nmnt_id:\t%15[0-9]", id) != 1)
    return true;
  cleanup_free char *mounts = read_small_at(AT_FDCWD, "/proc/self/mountinfo", 4u << 20, NULL);
  for (char *line = mounts; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    size_t n = strlen(id);
    if (strncmp(line, id, n) || line[n] != ' ')
      continue;
    const char *sep = strstr(line, " - "); /* then: fstype source options */
    return !sep || !strncmp(sep + 3, "fuse", 4);
  }
  return true;
}

void say_prepare(void) {
  struct stat st;
  say_fd = -1;
  if (fstat(STDERR_FILENO, &st) < 0)
    return;
  if (S_ISFIFO(st.st_mode)) /* a description of our own: O_NONBLOCK on the caller's would change theirs */
    say_fd = RETRY(open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  else if (S_ISSOCK(st.st_mode))
    say_fd = STDERR_FILENO, say_socket = true;
  else if (S_ISCHR(st.st_mode) || (S_ISREG(st.st_mode) && !on_fuse(STDERR_FILENO)))
    say_fd = STDERR_FILENO; /* /dev/null and its kind (the only devices allowed), local files */
}

void say_write(const char *buf, size_t len) {
  if (say_fd < 0)
    return;
  if (say_socket)
    (void)send(say_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  else if (write(say_fd, buf, len) < 0)
    return; /* full or gone: dropped */
}

int say_handle(void) { return say_fd; }

void say_reset(void) {
  say_fd = STDERR_FILENO;
  say_socket = false;
}

void close_all_but(const int *keep, size_t n) {
  unsigned from = 3;
  for (;;) {
    unsigned next = ~0U; /* the lowest kept fd at or above from */
    for (size_t i = 0; i < n; i++)
      if (keep[i] >= (int)from && (unsigned)keep[i] < next)
        next = (unsigned)keep[i];
    if (next == ~0U)
      break;
    if (next > from)
      close_range(from, next - 1, 0);
    from = next + 1;
  }
  close_range(from, ~0U, 0);
}

void say(const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0)
    say_write(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

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
  say("%s: %s\n", prog_name, msg);
  _exit(code);
}

static int report_fd = -1;
static void report(int code, const char *msg) {
  char line[600];
  int n = snprintf(line, sizeof line, "%d %s", code, msg);
  if (n > 0)
    (void)write_all(report_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void die_report_to(int fd) {
  report_fd = fd;
  die_hook = report;
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
