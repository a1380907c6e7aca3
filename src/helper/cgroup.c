#define _GNU_SOURCE
#include "cgroup.h"

#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "config.h"
#include "trust.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

const struct cg_backend *cg_detect(void) {
  struct statfs fs;
  if (statfs("/sys/fs/cgroup", &fs) < 0)
    die_errno(EXIT_REFUSED, "can't apply resource limits: \"/sys/fs/cgroup\" is not available");
  return fs.f_type == CGROUP2_SUPER_MAGIC ? &cg_v2 : &cg_v1;
}

int cg_open_root(const char *path, long magic) {
  int fd = RETRY(open(path, O_PATH | O_DIRECTORY | O_CLOEXEC));
  struct statfs fs;
  if (fd < 0 || fstatfs(fd, &fs) < 0 || fs.f_type != magic)
    die(EXIT_REFUSED, "can't apply resource limits: \"%s\" is not a mounted cgroup hierarchy; "
                      "ask your administrator to run \"cellsh-admin doctor\"",
        path);
  trusted_check_fd(fd, path);
  return fd;
}

int cg_subdir(int parent, const char *name, const char *what) {
  if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST)
    die_errno(EXIT_REFUSED, "can't create the cgroup %s/%s", what, name);
  /* 0755 whatever the umask, so tools can read the usage (nothing else may write). */
  if (fchmodat(parent, name, 0755, 0) < 0)
    die_errno(EXIT_REFUSED, "can't set the mode of the cgroup %s/%s", what, name);
  int fd = RETRY(openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd < 0)
    die_errno(EXIT_REFUSED, "can't open the cgroup %s/%s", what, name);
  trusted_check_fd(fd, name);
  return fd;
}

void cg_write(int dir, const char *file, const char *value, const char *what) {
  cleanup_fd int fd = RETRY(openat(dir, file, O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd < 0 || !write_all(fd, value, strlen(value)))
    die_errno(EXIT_REFUSED, "can't set %s to \"%s\" in the cgroup %s", file, value, what);
}

bool cg_set(struct cg_fail *f, int dir, const char *file, const char *value) {
  if (!f) {
    cg_write(dir, file, value, "of the container");
    return true;
  }
  if (write_file_at(dir, file, value))
    return true;
  if (!f->failed)
    snprintf(f->why, sizeof f->why, "%s to \"%s\": %s", file, value, strerror(errno));
  f->failed = true;
  return false;
}

void cg_refuse(struct cg_fail *f, const char *fmt, ...) {
  char msg[sizeof f->why];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!f)
    die(EXIT_REFUSED, "%s", msg);
  if (!f->failed)
    memcpy(f->why, msg, sizeof msg);
  f->failed = true;
}

int cg_count_procs(int dir) {
  cleanup_free char *text = read_small_at(dir, "cgroup.procs", 1 << 20, NULL);
  if (!text)
    return -1;
  int n = 0;
  for (const char *p = text; *p; p++)
    n += *p == '\n';
  return n;
}

void cg_clear_other_devices(struct cg_fail *f, int dir, const char *file, const struct cg_limits *l,
                            const char *clear) {
  cleanup_free char *text = read_small_at(dir, file, 1 << 16, NULL);
  for (char *save = NULL, *line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
    unsigned maj, min;
    if (sscanf(line, "%u:%u", &maj, &min) != 2)
      continue;
    bool listed = false;
    for (unsigned i = 0; i < l->n_io; i++)
      listed |= l->io[i].major == maj && l->io[i].minor == min;
    if (listed)
      continue;
    char v[96];
    xsnprintf(v, sizeof v, "%u:%u %s", maj, min, clear);
    cg_set(f, dir, file, v);
  }
}

/* Does /proc/PID/cgroup (read after pinning the pid) still list member? */
static bool still_member(pid_t pid, const char *member) {
  char path[32];
  xsnprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
  cleanup_free char *lines = read_small_at(AT_FDCWD, path, 1 << 16, NULL);
  if (!lines)
    return false;
  for (char *save = NULL, *l = strtok_r(lines, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    const char *rest = strchr(l, ':'); /* "N:controllers:path" */
    if (rest && !strcmp(rest + 1, member))
      return true;
  }
  return false;
}

/* cgroup v1 has no cgroup.kill (and v2 uses this as a fallback). Each pid is
 * pinned with a pidfd and checked against the cgroup before the signal, so a
 * pid that was recycled after cgroup.procs was read is never hit. */
void cg_kill_procs(int dir, const char *member, const char *what) {
  for (int round = 0; round < 200; round++) {
    cleanup_free char *procs = read_small_at(dir, "cgroup.procs", 1 << 20, NULL);
    if (!procs)
      die_errno(EXIT_INTERNAL, "can't list the processes of the cgroup %s", what);
    if (!procs[0])
      return;
    for (char *save = NULL, *tok = strtok_r(procs, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
      uint32_t pid;
      if (!parse_u32(tok, &pid) || pid < 2)
        continue;
      cleanup_fd int pidfd = pidfd_open((pid_t)pid, 0);
      if (pidfd >= 0 && still_member((pid_t)pid, member))
        pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
    }
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  }
  die(EXIT_INTERNAL, "processes in the cgroup %s survived SIGKILL for 2 s", what);
}

uint64_t cg_read_key(int dir, const char *file, const char *key) {
  cleanup_free char *text = read_small_at(dir, file, 4096, NULL);
  size_t klen = strlen(key);
  for (char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (!strncmp(line, key, klen) && line[klen] == ' ') {
      line[klen + 1 + strcspn(line + klen + 1, "\n")] = '\0';
      uint64_t v;
      return parse_u64(line + klen + 1, &v) ? v : 0;
    }
  }
  return 0;
}

bool cg_host_has_swap(void) {
  static int known = -1; /* read once per run */
  if (known < 0) {
    cleanup_free char *swaps = read_small_at(AT_FDCWD, "/proc/swaps", 1 << 16, NULL);
    /* A header line, then one line per active swap area; unreadable counts as swapping. */
    const char *nl = swaps ? strchr(swaps, '\n') : NULL;
    known = !swaps || (nl && nl[1] != '\0');
  }
  return known;
}

void cg_watch_file(int *fd, int dir, const char *file) {
  if (*fd < 0)
    *fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  char path[64];
  xsnprintf(path, sizeof path, "/proc/self/fd/%d/%s", dir, file);
  if (*fd >= 0)
    (void)inotify_add_watch(*fd, path, IN_MODIFY);
}

void cg_enter_helpers(int dir, const char *what) {
  cleanup_fd int leaf = cg_subdir(dir, CG_HELPERS, what);
  cg_write(leaf, "cgroup.procs", "0", CG_HELPERS);
}

void cg_enter(struct cg_entry *entry) {
  for (int i = 0; i < entry->n; i++) {
    /* "0" means the writing process itself. */
    if (!write_all(entry->fds[i], "0", 1))
      die_errno(EXIT_REFUSED, "can't move into the container's cgroup");
    close(entry->fds[i]);
  }
  entry->n = 0;
}
