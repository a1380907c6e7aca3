#define _GNU_SOURCE
#include "state.h"

#include "args.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <sys/stat.h>

#include "config.h"
#include "trust.h"
#include "util.h"

#define RECORD_MAX 4096

const char *const ns_names[NS_COUNT] = {"pid", "mnt", "uts", "ipc", "net", "cgroup", "user"};

int state_dir(void) {
  /* /run is a tmpfs on most hosts, so the folder may be gone after a reboot. */
  return trusted_mkdir(CELLSH_STATE_DIR, 0700);
}

int session_slot(int dir, uid_t uid, rlim_t nproc) {
  unsigned max = nproc < SESSIONS_MAX ? (unsigned)nproc : SESSIONS_MAX;
  char name[32];
  xsnprintf(name, sizeof name, "%u.slots", (unsigned)uid);
  cleanup_fd int fd = RETRY(openat(dir, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
  if (fd < 0)
    die_errno(EXIT_INTERNAL, "can't open \"%s/%s\"", CELLSH_STATE_DIR, name);
  /* Start where this pid points, so concurrent logins rarely try the same byte. */
  for (unsigned k = 0, start = max ? (unsigned)getpid() % max : 0; k < max; k++) {
    struct flock byte = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (start + k) % max, .l_len = 1};
    if (fcntl(fd, F_OFD_SETLK, &byte) == 0)
      return steal_fd(&fd);
    if (errno != EAGAIN && errno != EACCES)
      die_errno(EXIT_INTERNAL, "can't lock \"%s/%s\"", CELLSH_STATE_DIR, name);
  }
  die(EXIT_REFUSED, "you have %u cellsh sessions running or starting, the most your process limit allows "
                    "(ulimit -u); end one and try again",
      max);
}

static void on_alarm(int sig) { (void)sig; }

int state_lock(int dir, uid_t uid, unsigned wait_s) {
  char name[32];
  xsnprintf(name, sizeof name, "%u.lock", (unsigned)uid);
  int fd = RETRY(openat(dir, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
  if (fd < 0)
    die_errno(EXIT_INTERNAL, "can't open the lock \"%s/%s\"", CELLSH_STATE_DIR, name);
  /* A blocking flock, bounded by an alarm so a wedged login can't hang the next. */
  struct sigaction sa = {.sa_handler = on_alarm}, old;
  sigaction(SIGALRM, &sa, &old);
  alarm(wait_s);
  int r = flock(fd, LOCK_EX);
  alarm(0);
  sigaction(SIGALRM, &old, NULL);
  if (r < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* The value of the line "key VALUE" in a record into out (len bytes): false
 * if there is none or it does not fit. */
static bool field(const char *buf, const char *key, char *out, size_t len) {
  char pat[32];
  xsnprintf(pat, sizeof pat, "\n%s ", key);
  const char *p = strstr(buf, pat);
  size_t n = p ? strcspn(p + strlen(pat), "\n") : 0;
  out[0] = '\0';
  if (!p || n >= len)
    return false;
  memcpy(out, p + strlen(pat), n);
  out[n] = '\0';
  return true;
}

static bool field_u64(const char *buf, const char *key, uint64_t *out) {
  char num[24];
  return field(buf, key, num, sizeof num) && parse_u64(num, out);
}

/* A string field, "" unless it passes ok. */
static void field_str(const char *buf, const char *key, char *out, size_t len, bool (*ok)(const char *)) {
  if (!field(buf, key, out, len) || !ok(out))
    out[0] = '\0';
}

/* n bytes as 2n lowercase hex digits, and back (false unless exactly that). */
static void to_hex(char *out, const void *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", ((const unsigned char *)p)[i]);
}

static bool from_hex(const char *s, void *p, size_t n) {
  if (strlen(s) != 2 * n || strspn(s, "0123456789abcdef") != 2 * n)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    sscanf(s + 2 * i, "%2x", &v);
    ((unsigned char *)p)[i] = (unsigned char)v;
  }
  return true;
}

/* 16 lowercase hex digits, or 0. */
static uint64_t field_hex(const char *buf, const char *key) {
  char text[24];
  return field(buf, key, text, sizeof text) && strlen(text) == 16 && strspn(text, "0123456789abcdef") == 16
             ? strtoull(text, NULL, 16)
             : 0;
}

static bool valid_pending(const char *s) {
  return strspn(s, "abcdefghijklmnopqrstuvwxyz, -") == strlen(s);
}

int state_read(int dir, uid_t uid, struct container_record *rec) {
  char name[32];
  xsnprintf(name, sizeof name, "%u.state", (unsigned)uid);
  cleanup_free char *buf = read_small_at(dir, name, RECORD_MAX, NULL);
  if (!buf && errno == ENOENT)
    return 0;
  if (!buf)
    die_errno(EXIT_INTERNAL, "can't read the record \"%s/%s\"", CELLSH_STATE_DIR, name);
  memset(rec, 0, sizeof *rec);
  uint64_t v[6];
  const char *id = strstr(buf, "\nid ");
  bool v2 = !strncmp(buf, "cellsh-state 2\n", 15);
  if ((!v2 && strncmp(buf, "cellsh-state 1\n", 15)) || !id || strspn(id + 4, "0123456789abcdef") != 12 ||
      !field_u64(buf, "uid", &v[0]) || !field_u64(buf, "init_pid", &v[1]) ||
      !field_u64(buf, "init_start", &v[2]) || !field_u64(buf, "created_ms", &v[3]) ||
      !field_u64(buf, "network", &v[4]) || !field_u64(buf, "gid", &v[5]) || v[0] != uid || v[1] < 2 ||
      v[1] > INT32_MAX || v[4] >= NETWORK_COUNT || v[5] >= UINT32_MAX)
    return 0;
  for (int i = 0; i < NS_COUNT; i++) {
    char key[16];
    xsnprintf(key, sizeof key, "ns_%s", ns_names[i]);
    if (!field_u64(buf, key, &rec->ns[i]))
      return 0;
  }
  memcpy(rec->id, id + 4, 12);
  rec->uid = uid;
  rec->init_pid = (pid_t)v[1];
  rec->init_start = v[2];
  rec->created_ms = v[3];
  rec->network = (enum network_mode)v[4];
  rec->gid = (gid_t)v[5];
  if (v2) {
    field_str(buf, "name", rec->name, sizeof rec->name, valid_name);
    field_str(buf, "group", rec->group, sizeof rec->group, valid_name);
    field_str(buf, "home", rec->home, sizeof rec->home, valid_abs_path);
    field_str(buf, "hostname", rec->hostname, sizeof rec->hostname, valid_hostname);
    field_str(buf, "image", rec->image, sizeof rec->image, valid_image_value);
    field_str(buf, "layer", rec->layer, sizeof rec->layer, valid_layer_value);
    field_str(buf, "root", rec->root, sizeof rec->root, valid_root_value);
    field_str(buf, "pending", rec->pending, sizeof rec->pending, valid_pending);
    if (!strcmp(rec->pending, "-"))
      rec->pending[0] = '\0';
    rec->policy_hash = field_hex(buf, "policy");
    char limits[2 * sizeof rec->limits + 1];
    uint64_t swapped;
    rec->limits_known = field(buf, "limits", limits, sizeof limits) && from_hex(limits, &rec->limits, sizeof rec->limits) &&
                        field_u64(buf, "swapped", &swapped) && swapped <= 1;
    rec->host_swapped = rec->limits_known && swapped;
    uint64_t floor;
    rec->seccomp_floor = field_u64(buf, "seccomp", &floor) && floor <= 3 ? (unsigned)floor : 0;
    uint64_t ports;
    rec->udp_ports = field_u64(buf, "udp_ports", &ports) && ports <= UINT32_MAX ? (uint32_t)ports : 0;
  }
  return 1;
}

void state_write(int dir, const struct container_record *rec) {
  char text[RECORD_MAX], tmp[32], name[32], limits[2 * sizeof rec->limits + 1] = "-";
  if (rec->limits_known)
    to_hex(limits, &rec->limits, sizeof rec->limits);
  int n = snprintf(text, sizeof text,
                   "cellsh-state 2\nuid %u\nid %s\ninit_pid %d\ninit_start %" PRIu64
                   "\ncreated_ms %" PRIu64 "\nnetwork %d\ngid %u\nname %s\ngroup %s\nhome %s\nhostname %s\n"
                   "policy %016" PRIx64 "\nlimits %s\nswapped %d\npending %s\nseccomp %u\nudp_ports %u\nimage %s\nlayer %s\nroot %s\n",
                   (unsigned)rec->uid, rec->id, (int)rec->init_pid, rec->init_start,
                   rec->created_ms, (int)rec->network, (unsigned)rec->gid, rec->name, rec->group, rec->home,
                   rec->hostname, rec->policy_hash, limits, rec->host_swapped, rec->pending[0] ? rec->pending : "-",
                   rec->seccomp_floor, (unsigned)rec->udp_ports, rec->image[0] ? rec->image : "-",
                   rec->layer[0] ? rec->layer : "-", rec->root[0] ? rec->root : "-");
  for (int i = 0; i < NS_COUNT; i++)
    n += snprintf(text + n, sizeof text - (size_t)n, "ns_%s %" PRIu64 "\n", ns_names[i], rec->ns[i]);
  xsnprintf(tmp, sizeof tmp, "%u.state.tmp", (unsigned)rec->uid);
  xsnprintf(name, sizeof name, "%u.state", (unsigned)rec->uid);
  unlinkat(dir, tmp, 0);
  cleanup_fd int fd = RETRY(openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd < 0 || !write_all(fd, text, (size_t)n) || renameat(dir, tmp, dir, name) < 0)
    die_errno(EXIT_INTERNAL, "can't write the record \"%s/%s\"", CELLSH_STATE_DIR, name);
}

void state_remove(int dir, uid_t uid) {
  char name[32];
  xsnprintf(name, sizeof name, "%u.state", (unsigned)uid);
  if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
    die_errno(EXIT_INTERNAL, "can't remove \"%s/%s\"", CELLSH_STATE_DIR, name);
}

/* "<uid>.notice", written in place: each session's monitor opened it (as
 * root, before dropping privileges) and reads it through that fd. */
static int notice_open(int dir, uid_t uid, int flags) {
  char name[32];
  xsnprintf(name, sizeof name, "%u.notice", (unsigned)uid);
  return RETRY(openat(dir, name, flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
}

uint64_t limit_log_claim(int dir, uid_t uid, const char *container, int kind, uint64_t counter, uint64_t every_ms) {
  char name[32], text[128], id[13] = "";
  xsnprintf(name, sizeof name, "%u.limits", (unsigned)uid);
  cleanup_fd int fd = dir < 0 ? -1 : RETRY(openat(dir, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
  if (fd < 0 || RETRY(flock(fd, LOCK_EX)) < 0)
    return 0;
  ssize_t n = pread(fd, text, sizeof text - 1, 0);
  text[n > 0 ? n : 0] = '\0';
  unsigned long long logged[LIMIT_KINDS] = {0}, at[LIMIT_KINDS] = {0};
  /* "<container> <oom count> <oom ms> <pids count> <pids ms>"; another container's counts start afresh. */
  if (sscanf(text, "%12s %llu %llu %llu %llu", id, &logged[0], &at[0], &logged[1], &at[1]) != 5 || strcmp(id, container)) {
    memset(logged, 0, sizeof logged);
    memset(at, 0, sizeof at);
  }
  uint64_t now = now_ms();
  if (counter <= logged[kind] || (at[kind] && now - at[kind] < every_ms))
    return 0;
  uint64_t rise = counter - logged[kind];
  logged[kind] = counter;
  at[kind] = now;
  int len = snprintf(text, sizeof text, "%s %llu %llu %llu %llu\n", container, logged[0], at[0], logged[1], at[1]);
  if (len < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)len, 0) != len)
    return 0;
  return rise;
}

int notice_open_for_reading(uid_t uid) {
  cleanup_fd int dir = RETRY(open(CELLSH_STATE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  return dir < 0 ? -1 : notice_open(dir, uid, O_RDONLY);
}

void notice_write(int dir, uid_t uid, const char *container, const char *text) {
  char body[NOTICE_MAX + 64];
  int n = snprintf(body, sizeof body, "%s\n%s\n", container, text);
  if (n < 0 || (size_t)n >= sizeof body)
    die(EXIT_USAGE, "the notice is too long");
  cleanup_fd int fd = notice_open(dir, uid, O_WRONLY);
  if (fd < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, body, (size_t)n, 0) != n)
    die_errno(EXIT_INTERNAL, "can't write the notice for uid %u", (unsigned)uid);
}

bool notice_read(int fd, const char *container, char *buf, size_t len) {
  char text[NOTICE_MAX + 64];
  ssize_t n = fd < 0 ? -1 : pread(fd, text, sizeof text - 1, 0);
  if (n <= 0)
    return false;
  text[n] = '\0';
  char *nl = strchr(text, '\n');
  if (!nl)
    return false;
  *nl = '\0';
  char *line = nl + 1;
  line[strcspn(line, "\n")] = '\0';
  if (strcmp(text, container) || !valid_notice(line) || strlen(line) >= len)
    return false;
  strcpy(buf, line);
  return true;
}

void notice_remove(int dir, uid_t uid) {
  char name[32];
  xsnprintf(name, sizeof name, "%u.notice", (unsigned)uid);
  if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
    die_errno(EXIT_INTERNAL, "can't remove \"%s/%s\"", CELLSH_STATE_DIR, name);
}

static int join_open(int dir, uid_t uid) {
  char name[32];
  xsnprintf(name, sizeof name, "%u.join", (unsigned)uid);
  int fd = RETRY(openat(dir, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
  if (fd < 0)
    die_errno(EXIT_INTERNAL, "can't open \"%s/%s\"", CELLSH_STATE_DIR, name);
  return fd;
}

int join_lock(int dir, uid_t uid) {
  int fd = join_open(dir, uid);
  /* Only join_idle takes it exclusively, and never waits: this won't block long. */
  if (RETRY(flock(fd, LOCK_SH)) < 0)
    die_errno(EXIT_INTERNAL, "can't lock your container's join file");
  return fd;
}

bool join_idle(int dir, uid_t uid) {
  cleanup_fd int fd = join_open(dir, uid);
  return flock(fd, LOCK_EX | LOCK_NB) == 0; /* released when fd closes */
}

/* Field 22 of /proc/PID/stat; the command name (field 2) may hold spaces and
 * parentheses, so count from the last ')'. */
static bool start_time_of(int procfd, uint64_t *out) {
  cleanup_free char *buf = read_small_at(procfd, "stat", 4096, NULL);
  if (!buf && (errno == ENOENT || errno == ESRCH))
    return false;
  if (!buf)
    die_errno(EXIT_INTERNAL, "can't read a process's start time");
  char *p = strrchr(buf, ')');
  if (!p)
    die(EXIT_INTERNAL, "malformed /proc/PID/stat");
  for (int field = 2; field < 22; field++) {
    p = strchr(p + 1, ' ');
    if (!p)
      return false;
  }
  char num[24];
  size_t n = strcspn(p + 1, " ");
  if (n == 0 || n >= sizeof num)
    return false;
  memcpy(num, p + 1, n);
  num[n] = '\0';
  return parse_u64(num, out);
}

bool proc_identity(pid_t pid, struct container_record *rec) {
  char path[32];
  xsnprintf(path, sizeof path, "/proc/%d", (int)pid);
  cleanup_fd int procfd = RETRY(open(path, O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (procfd < 0 && errno != ENOENT)
    die_errno(EXIT_INTERNAL, "can't open %s", path);
  if (procfd < 0 || !start_time_of(procfd, &rec->init_start))
    return false;
  for (int i = 0; i < NS_COUNT; i++) {
    char ns[16];
    struct stat st;
    xsnprintf(ns, sizeof ns, "ns/%s", ns_names[i]);
    if (fstatat(procfd, ns, &st, 0) < 0) {
      if (errno == ENOENT || errno == ESRCH) /* gone, or a zombie: no namespaces left */
        return false;
      die_errno(EXIT_INTERNAL, "can't read the namespaces of %s", path);
    }
    rec->ns[i] = st.st_ino;
  }
  return true;
}

int state_pin(const struct container_record *rec) {
  cleanup_fd int pidfd = pidfd_open(rec->init_pid, 0);
  if (pidfd < 0 && errno == ESRCH)
    return -1;
  if (pidfd < 0)
    die_errno(EXIT_INTERNAL, "can't pin your container's init");
  struct container_record now = *rec;
  if (!proc_identity(rec->init_pid, &now) || now.init_start != rec->init_start ||
      memcmp(now.ns, rec->ns, sizeof now.ns) != 0)
    return -1;
  /* The process behind the pidfd is still alive, so the /proc reads above were
   * about it and not about a newcomer that reused the pid. */
  if (pidfd_send_signal(pidfd, 0, NULL, 0) < 0 && errno == ESRCH)
    return -1;
  return steal_fd(&pidfd);
}
