/* cgroup v2 backend. Where systemd runs the host, the containers live below the
 * cgroup systemd delegates to cellsh.service (install.sh writes the unit with
 * Delegate=yes): /sys/fs/cgroup/cellsh.slice/cellsh.service/u<uid>. systemd
 * owns everything down to that node and never touches what is below it.
 * Without systemd, cellsh owns a plain subtree: /sys/fs/cgroup/cellsh/u<uid>.
 * Either way controllers are enabled down the path (a limit file exists only
 * where the parent enables its controller) and processes live only in leaves. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "config.h"
#include "trust.h"
#include "util.h"

#define CGROUP2_SUPER_MAGIC 0x63677270
#define CPU_PERIOD_US 100000u
#define ROOT "/sys/fs/cgroup"

enum { C_MEMORY,
       C_PIDS,
       C_CPU,
       C_IO,
       C_COUNT };
static const char *const controllers[C_COUNT] = {"memory", "pids", "cpu", "io"};

/* Does systemd run this host (sd_booted(3))? Then it owns the hierarchy. */
static bool under_systemd(void) {
  return access("/run/systemd/system", F_OK) == 0;
}

/* The folder below ROOT that holds the containers' cgroups. */
static void base_path(char *buf, size_t len) {
  if (under_systemd())
    xsnprintf(buf, len, "%s.slice/%s.service", CELLSH_CGROUP_NAME, CELLSH_CGROUP_NAME);
  else
    xsnprintf(buf, len, "%s", CELLSH_CGROUP_NAME);
}

static bool needed(int c, const struct cg_limits *l) {
  switch (c) {
  case C_MEMORY: return l->memory || l->memory_high || l->swap != SWAP_ANY;
  case C_PIDS: return l->pids > 0;
  case C_CPU: return l->cpu > 0;
  default: return l->io_weight || l->n_io;
  }
}

/* Enable in dir's children every controller dir offers (so usage can be shown
 * for all of them); die if one the limits need is not offered. */
static void enable_controllers(int dir, const struct cg_limits *l, const char *what, const char *missing_hint) {
  cleanup_free char *have = read_small_at(dir, "cgroup.controllers", 4096, NULL);
  char padded[4200];
  xsnprintf(padded, sizeof padded, " %s ", have ? have : "");
  for (char *p = padded; *p; p++)
    if (*p == '\n')
      *p = ' ';
  for (int c = 0; c < C_COUNT; c++) {
    char pat[16], op[16];
    xsnprintf(pat, sizeof pat, " %s ", controllers[c]);
    if (!strstr(padded, pat)) {
      if (needed(c, l))
        die(EXIT_REFUSED, "can't apply the %s limit: the %s controller is not %s \"%s\"; "
                          "ask your administrator to run \"cellsh-admin doctor\"",
            controllers[c], controllers[c], missing_hint, what);
      continue;
    }
    xsnprintf(op, sizeof op, "+%s", controllers[c]);
    /* A controller the limits don't need is enabled for usage figures only:
     * if the kernel refuses it (cpu with a real-time task in the subtree),
     * go on without it. */
    if (needed(c, l))
      cg_write(dir, "cgroup.subtree_control", op, what);
    else
      (void)write_file_at(dir, "cgroup.subtree_control", op);
  }
}

/* v2 allows processes only in leaves, and systemd starts the delegating
 * unit's own process (it holds the cgroup open) in the base itself: move any
 * there into a leaf of their own, as systemd's delegation rules expect of the
 * delegatee (DelegateSubgroup= does the same on newer systemd). */
static void move_out_supervisor(int base, const char *what) {
  cleanup_free char *procs = read_small_at(base, "cgroup.procs", 1 << 16, NULL);
  if (!procs || !procs[0])
    return;
  cleanup_fd int leaf = cg_subdir(base, "supervisor", what);
  for (char *save = NULL, *pid = strtok_r(procs, "\n", &save); pid; pid = strtok_r(NULL, "\n", &save))
    if (!write_file_at(leaf, "cgroup.procs", pid) && errno != ESRCH)
      die_errno(EXIT_INTERNAL, "can't move process %s of %s into its own leaf", pid, what);
}

/* The base folder, or -1 if it is missing and create is false. Creating it
 * enables the controllers on the way down; under systemd only the delegated
 * node is ours to change, and systemd must have made it. */
static int open_base(const struct cg_limits *l) {
  char base[128], path[160];
  base_path(base, sizeof base);
  xsnprintf(path, sizeof path, ROOT "/%s", base);
  if (!l)
    return RETRY(open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (under_systemd()) {
    int fd = RETRY(open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd < 0)
      die(EXIT_REFUSED, "can't apply resource limits: %s, the cgroup systemd delegates to %s.service, is missing; "
                        "ask your administrator to run \"systemctl enable --now %s.service\"",
          path, CELLSH_CGROUP_NAME, CELLSH_CGROUP_NAME);
    trusted_check_fd(fd, path);
    move_out_supervisor(fd, path);
    enable_controllers(fd, l, path, "delegated to");
    return fd;
  }
  cleanup_fd int root = cg_open_root(ROOT, CGROUP2_SUPER_MAGIC);
  enable_controllers(root, l, ROOT, "available in");
  int fd = cg_subdir(root, base, ROOT);
  enable_controllers(fd, l, path, "enabled in");
  return fd;
}

static int open_leaf(uid_t uid) {
  cleanup_fd int base = open_base(NULL);
  char leaf[32];
  xsnprintf(leaf, sizeof leaf, "u%u", (unsigned)uid);
  return base < 0 ? -1 : RETRY(openat(base, leaf, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

static void v2_destroy(uid_t uid) {
  cleanup_fd int leaf = open_leaf(uid);
  if (leaf < 0)
    return;
  if (faccessat(leaf, "cgroup.kill", F_OK, 0) == 0) {
    cg_write(leaf, "cgroup.kill", "1", "of the container");
    for (int i = 0; i < 200; i++) {
      cleanup_free char *ev = read_small_at(leaf, "cgroup.events", 4096, NULL);
      if (ev && strstr(ev, "populated 0"))
        break;
      nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
  }
  char base[128], member[160], leafname[32];
  base_path(base, sizeof base);
  xsnprintf(member, sizeof member, ":/%s/u%u", base, (unsigned)uid);
  xsnprintf(leafname, sizeof leafname, "u%u", (unsigned)uid);
  cg_kill_procs(leaf, member, "of the container");
  cleanup_fd int basefd = open_base(NULL);
  if (basefd >= 0 && unlinkat(basefd, leafname, AT_REMOVEDIR) < 0 && errno != ENOENT)
    die_errno(EXIT_INTERNAL, "can't remove the cgroup of uid %u", (unsigned)uid);
}

/* "max" for no limit, else the number. */
static const char *num_or_max(char *buf, size_t len, uint64_t v) {
  if (!v)
    return "max";
  xsnprintf(buf, len, "%" PRIu64, v);
  return buf;
}

/* Write a limit file; one that does not exist is skipped unless the limit is
 * wanted (its controller is then missing, which create_base already refused). */
static void set_limit(struct cg_fail *f, int leaf, const char *file, const char *value, bool wanted) {
  if (wanted || faccessat(leaf, file, F_OK, 0) == 0)
    cg_set(f, leaf, file, value);
}

static void write_io(int leaf, const struct cg_limits *l, struct cg_fail *f) {
  char v[160];
  if (l->io_weight && faccessat(leaf, "io.weight", F_OK, 0) < 0)
    cg_refuse(f, "can't apply the io_weight limit: this kernel has no io.weight (neither BFQ nor io.cost); "
                 "ask your administrator to run \"cellsh-admin doctor\"");
  xsnprintf(v, sizeof v, "default %u", l->io_weight ? l->io_weight : 100u);
  set_limit(f, leaf, "io.weight", v, false);
  for (unsigned i = 0; i < l->n_io; i++) {
    const struct io_limit *d = &l->io[i];
    char r[24], w[24], ri[24], wi[24];
    xsnprintf(v, sizeof v, "%u:%u rbps=%s wbps=%s riops=%s wiops=%s", d->major, d->minor,
              num_or_max(r, sizeof r, d->rbps), num_or_max(w, sizeof w, d->wbps),
              num_or_max(ri, sizeof ri, d->riops), num_or_max(wi, sizeof wi, d->wiops));
    cg_set(f, leaf, "io.max", v);
  }
  if (faccessat(leaf, "io.max", F_OK, 0) == 0)
    cg_clear_other_devices(f, leaf, "io.max", l, "rbps=max wbps=max riops=max wiops=max");
}

/* Every limit, "max" where the policy sets none: the same for a new leaf and
 * for a live update. */
static void write_limits(int leaf, const struct cg_limits *l, struct cg_fail *f) {
  char v[48];
  set_limit(f, leaf, "memory.max", num_or_max(v, sizeof v, l->memory), l->memory);
  set_limit(f, leaf, "memory.high", num_or_max(v, sizeof v, l->memory_high), l->memory_high);
  if (faccessat(leaf, "memory.swap.max", F_OK, 0) == 0) {
    if (l->swap == SWAP_ANY)
      xsnprintf(v, sizeof v, "max");
    else
      xsnprintf(v, sizeof v, "%" PRIu64, l->swap);
    cg_set(f, leaf, "memory.swap.max", v);
  } else if (l->swap != SWAP_ANY && cg_host_has_swap()) {
    cg_refuse(f, "can't apply the swap limit: this kernel does not account swap per cgroup "
                 "(boot it with swapaccount=1); ask your administrator to run \"cellsh-admin doctor\"");
  }
  set_limit(f, leaf, "pids.max", num_or_max(v, sizeof v, l->pids), l->pids);
  if (l->cpu)
    xsnprintf(v, sizeof v, "%" PRIu64 " %u", (uint64_t)l->cpu * CPU_PERIOD_US / 1000u, CPU_PERIOD_US);
  else
    xsnprintf(v, sizeof v, "max %u", CPU_PERIOD_US);
  set_limit(f, leaf, "cpu.max", v, l->cpu);
  write_io(leaf, l, f);
}

static void v2_create(uid_t uid, const struct cg_limits *l) {
  v2_destroy(uid);
  cleanup_fd int base = open_base(l);
  char leafname[32];
  xsnprintf(leafname, sizeof leafname, "u%u", (unsigned)uid);
  cleanup_fd int leaf = cg_subdir(base, leafname, CELLSH_CGROUP_NAME);
  write_limits(leaf, l, NULL);
}

static bool v2_update(uid_t uid, const struct cg_limits *l, struct cg_fail *f) {
  cleanup_fd int leaf = open_leaf(uid);
  if (leaf < 0) {
    cg_refuse(f, "the container's cgroup is missing");
    return false;
  }
  /* A limit whose controller the base does not enable yet (none was needed
   * when the container started): enable it on the way, or fail. */
  cleanup_fd int base = open_base(NULL);
  for (int c = 0; c < C_COUNT; c++) {
    char op[16];
    xsnprintf(op, sizeof op, "+%s", controllers[c]);
    if (needed(c, l) && base >= 0)
      (void)write_file_at(base, "cgroup.subtree_control", op);
  }
  write_limits(leaf, l, f);
  return !f->failed;
}

static int v2_procs(uid_t uid) {
  cleanup_fd int leaf = open_leaf(uid);
  return leaf < 0 ? -1 : cg_count_procs(leaf);
}

static int v2_open_entry(uid_t uid, const struct cg_limits *l, struct cg_entry *e) {
  (void)l; /* one leaf holds every controller */
  e->n = 0;
  cleanup_fd int leaf = open_leaf(uid);
  if (leaf < 0)
    return -1;
  int fd = RETRY(openat(leaf, "cgroup.procs", O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd < 0)
    return -1;
  e->fds[e->n++] = fd;
  return 0;
}

/* memory.events and pids.events notify inotify watchers when they change. */
static void v2_watch(uid_t uid, struct cg_watch *w) {
  *w = (struct cg_watch){.wake = {-1, -1}, .memory_dir = -1, .pids_dir = -1, .poll_ms = 0};
  w->memory_dir = open_leaf(uid);
  if (w->memory_dir < 0)
    return;
  w->pids_dir = fcntl(w->memory_dir, F_DUPFD_CLOEXEC, 3);
  cg_watch_file(&w->wake[0], w->memory_dir, "memory.events");
  cg_watch_file(&w->wake[0], w->memory_dir, "pids.events");
}

static void v2_adopt_helper(void) {
  static const struct cg_limits none = {.swap = SWAP_ANY}; /* the base as a first login makes it */
  cleanup_fd int base = open_base(&none);
  cg_enter_helpers(base, CELLSH_CGROUP_NAME);
}

static void v2_events(const struct cg_watch *w, struct cg_events *out) {
  out->oom_kills = w->memory_dir < 0 ? 0 : cg_read_key(w->memory_dir, "memory.events", "oom_kill");
  out->pids_max = w->pids_dir < 0 ? 0 : cg_read_key(w->pids_dir, "pids.events", "max");
}

const struct cg_backend cg_v2 = {
    .name = "v2",
    .create = v2_create,
    .update = v2_update,
    .procs = v2_procs,
    .open_entry = v2_open_entry,
    .destroy = v2_destroy,
    .watch = v2_watch,
    .events = v2_events,
    .adopt_helper = v2_adopt_helper,
};
