#define _GNU_SOURCE
#include "trust.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

void trusted_check_fd(int fd, const char *what) {
  struct stat st;
  if (fstat(fd, &st) < 0)
    die_errno(EXIT_CONFIG, "can't inspect %s", what);
  if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
    die(EXIT_CONFIG, "refusing to trust %s: it must belong to root and be writable by root "
                     "only (owner %u, mode %04o); fix it or run \"cellsh-admin doctor\"",
        what, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
}

/* One step of a walk: the folder name in at, opened without following a
 * link and checked; path's first len bytes name it in messages. */
static int step(int at, const char *name, const char *path, int len) {
  int next = RETRY(openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (next < 0)
    die_errno(EXIT_CONFIG, "can't open \"%.*s\" as a real folder", len, path);
  char what[300];
  xsnprintf(what, sizeof what, "\"%.*s\"", len, path);
  trusted_check_fd(next, what);
  return next;
}

/* Walk path from "/" one component at a time with O_NOFOLLOW, checking every
 * folder; stop before the last component when leaf is true. Returns the fd of
 * the last folder checked and sets *rest to the unwalked remainder. */
static int walk(const char *path, bool leaf, const char **rest) {
  if (path[0] != '/')
    die(EXIT_INTERNAL, "internal error: \"%s\" is not absolute", path);
  int fd = RETRY(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (fd < 0)
    die_errno(EXIT_INTERNAL, "can't open \"/\"");
  trusted_check_fd(fd, "\"/\"");
  const char *p = path + 1;
  for (;;) {
    const char *slash = strchr(p, '/');
    if (!slash && leaf)
      break;
    char comp[256];
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || n >= sizeof comp)
      die(EXIT_INTERNAL, "internal error: bad path \"%s\"", path);
    memcpy(comp, p, n);
    comp[n] = '\0';
    int next = step(fd, comp, path, (int)(p - path + n));
    close(fd);
    fd = next;
    if (!slash)
      break;
    p = slash + 1;
  }
  *rest = p;
  return fd;
}

int trusted_dir(const char *path) {
  const char *rest;
  return walk(path, false, &rest);
}

int trusted_mkdir(const char *path, mode_t mode) {
  const char *name;
  cleanup_fd int up = walk(path, true, &name);
  if (mkdirat(up, name, mode) < 0 && errno != EEXIST)
    die_errno(EXIT_CONFIG, "can't create \"%s\"", path);
  return step(up, name, path, (int)strlen(path)); /* the walk's last step */
}

static int open_checked(const char *path, int flags) {
  const char *name;
  cleanup_fd int dir = walk(path, true, &name);
  int fd = RETRY(openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (fd < 0)
    die_errno(EXIT_CONFIG, "can't open \"%s\"", path);
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    die(EXIT_CONFIG, "refusing \"%s\": not a regular file", path);
  char what[300];
  xsnprintf(what, sizeof what, "\"%s\"", path);
  trusted_check_fd(fd, what);
  return fd;
}

int trusted_open(const char *path) {
  return open_checked(path, O_RDONLY | O_NONBLOCK);
}

int trusted_exec_fd(const char *path) {
  int fd = open_checked(path, O_PATH);
  struct stat st;
  if (fstat(fd, &st) < 0 || (st.st_mode & (S_IRGRP | S_IROTH)))
    die(EXIT_CONFIG, "refusing \"%s\": users may read it (mode %04o), so they could trace it as it runs; "
                     "chmod 0711 it, or run install.sh again",
        path, (unsigned)(st.st_mode & 07777));
  return fd;
}
