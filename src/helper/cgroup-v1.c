/* cgroup v1 backend: one node per controller hierarchy, at
 * /sys/fs/cgroup/<controller>/<CELLSH_CGROUP_NAME>/u<uid>, in every hierarchy
 * that is mounted (so usage can be shown), and refused when a limit needs one
 * that is not. The pids node always exists, so every container's processes can
 * be found and killed. The container never mounts a v1 hierarchy, so
 * release_agent and notify_on_release are out of its reach (CVE-2022-0492). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cgroup.h"
#include "config.h"
#include "util.h"

#define CGROUP_SUPER_MAGIC 0x27e0eb
#define CGROUP2_SUPER_MAGIC 0x63677270
#define UNIFIED "/sys/fs/cgroup/unified"
#define CPU_PERIOD_US 100000u

enum { C_MEMORY,
       C_PIDS,
       C_CPU,
       C_BLKIO,
       C_COUNT };
static const char *const controllers[C_COUNT] = {"memory", "pids", "cpu", "blkio"};
static const char *const io_files[4] = {"blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
                                        "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device"};

/* The leaf for uid under one controller, or -1 if that hierarchy or node is missing. */
static int open_leaf(int c, uid_t uid, bool create) {
  char root[64], leaf[32];
  xsnprintf(root, sizeof root, "/sys/fs/cgroup/%s", controllers[c]);
  xsnprintf(leaf, sizeof leaf, "u%u", (unsigned)uid);
  if (access(root, F_OK) < 0)
    return -1;
  cleanup_fd int base = cg_open_root(root, CGROUP_SUPER_MAGIC);
  if (create) {
    cleanup_fd int parent = cg_subdir(base, CELLSH_CGROUP_NAME, root);
    return cg_subdir(parent, leaf, root);
  }
  char rel[96];
  xsnprintf(rel, sizeof rel, "%s/%s", CELLSH_CGROUP_NAME, leaf);
  return RETRY(openat(base, rel, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

static void v1_destroy(uid_t uid) {
  /* Every process of the container is in the pids node: kill them there. */
  char member[96];
  xsnprintf(member, sizeof member, "pids:/%s/u%u", CELLSH_CGROUP_NAME, (unsigned)uid);
  {
    cleanup_fd int pids = open_leaf(C_PIDS, uid, false);
    if (pids >= 0)
      cg_kill_procs(pids, member, "pids");
  }
  for (int c = 0; c < C_COUNT; c++) {
    char path[128];
    xsnprintf(path, sizeof path, "/sys/fs/cgroup/%s/%s/u%u", controllers[c], CELLSH_CGROUP_NAME, (unsigned)uid);
    if (rmdir(path) < 0 && errno != ENOENT)
      die_errno(EXIT_INTERNAL, "can't remove the cgroup \"%s\"", path);
  }
}

/* A swap limit matters only where the host swaps. */
static bool swap_limited(const struct cg_limits *l) {
  return l->swap != SWAP_ANY && cg_host_has_swap();
}

static bool needed(int c, const struct cg_limits *l) {
  switch (c) {
  case C_MEMORY: return l->memory || l->memory_high || swap_limited(l);
  case C_PIDS: return true;
  case C_CPU: return l->cpu > 0;
  default: return l->io_weight || l->n_io;
  }
}

/* The value a blkio throttle file holds for a device, or 0 if none. */
static uint64_t device_value(int leaf, const char *file, const struct io_limit *d) {
  char head[32];
  xsnprintf(head, sizeof head, "%u:%u", d->major, d->minor);
  return cg_read_key(leaf, file, head);
}

static const char *u64_or(char *buf, size_t len, uint64_t v, const char *none) {
  if (!v)
    return none;
  xsnprintf(buf, len, "%" PRIu64, v);
  return buf;
}

/* v1 caps memory and memory+swap separately, and memsw may never be below
 * memory: write them in the order that keeps that true at every step. */
static void write_memory(int leaf, const struct cg_limits *l, struct cg_fail *f) {
  char mem[24], memsw[24], soft[24];
  u64_or(mem, sizeof mem, l->memory, "-1");
  bool has_memsw = faccessat(leaf, "memory.memsw.limit_in_bytes", F_OK, 0) == 0;
  if (swap_limited(l) && !l->memory)
    cg_refuse(f, "can't apply the swap limit: on cgroup v1 it needs a memory limit too; "
                 "ask your administrator to set limits.memory, or limits.swap to unlimited");
  else if (swap_limited(l) && !has_memsw)
    cg_refuse(f, "can't apply the swap limit: this kernel does not account swap per cgroup "
                 "(boot it with swapaccount=1); ask your administrator to run \"cellsh-admin doctor\"");
  if (!has_memsw) {
    cg_set(f, leaf, "memory.limit_in_bytes", mem);
  } else {
    u64_or(memsw, sizeof memsw, swap_limited(l) && l->memory ? l->memory + l->swap : 0, "-1");
    if (write_file_at(leaf, "memory.limit_in_bytes", mem)) {
      cg_set(f, leaf, "memory.memsw.limit_in_bytes", memsw);
    } else {
      cg_set(f, leaf, "memory.memsw.limit_in_bytes", memsw);
      cg_set(f, leaf, "memory.limit_in_bytes", mem);
    }
  }
  /* v1's nearest to memory.high: reclaimed first when the host runs short */
  cg_set(f, leaf, "memory.soft_limit_in_bytes", u64_or(soft, sizeof soft, l->memory_high, "-1"));
}

static void write_blkio(int leaf, const struct cg_limits *l, struct cg_fail *f) {
  /* v2's weights run 1-10000 around a default of 100, BFQ's on v1 1-1000
   * around the same default; the older blkio.weight runs 10-1000 around 500. */
  uint32_t w = l->io_weight > 1000 ? 1000 : l->io_weight;
  char v[64];
  if (faccessat(leaf, "blkio.bfq.weight", F_OK, 0) == 0) {
    xsnprintf(v, sizeof v, "%u", w ? w : 100u);
    cg_set(f, leaf, "blkio.bfq.weight", v);
  } else if (faccessat(leaf, "blkio.weight", F_OK, 0) == 0) {
    xsnprintf(v, sizeof v, "%u", w ? (w < 10 ? 10 : w) : 500u);
    cg_set(f, leaf, "blkio.weight", v);
  } else if (w) {
    cg_refuse(f, "can't apply the io_weight limit: this kernel has no disk weights on cgroup v1 "
                 "(it needs BFQ); ask your administrator to run \"cellsh-admin doctor\"");
  }
  for (int k = 0; k < 4; k++) {
    for (unsigned i = 0; i < l->n_io; i++) {
      const struct io_limit *d = &l->io[i];
      const uint64_t want[4] = {d->rbps, d->wbps, d->riops, d->wiops};
      /* 0 removes the device's rule (a limit the policy dropped). */
      xsnprintf(v, sizeof v, "%u:%u %" PRIu64, d->major, d->minor, want[k]);
      if (want[k] || device_value(leaf, io_files[k], d))
        cg_set(f, leaf, io_files[k], v);
    }
    cg_clear_other_devices(f, leaf, io_files[k], l, "0");
  }
}

/* Every limit of one controller's leaf, "no limit" where the policy sets none. */
static void write_limits(int c, int leaf, const struct cg_limits *l, struct cg_fail *f) {
  char v[32];
  switch (c) {
  case C_MEMORY:
    write_memory(leaf, l, f);
    break;
  case C_PIDS:
    cg_set(f, leaf, "pids.max", u64_or(v, sizeof v, l->pids, "max"));
    break;
  case C_CPU:
    xsnprintf(v, sizeof v, "%u", CPU_PERIOD_US);
    cg_set(f, leaf, "cpu.cfs_period_us", v);
    cg_set(f, leaf, "cpu.cfs_quota_us", u64_or(v, sizeof v, (uint64_t)l->cpu * CPU_PERIOD_US / 1000u, "-1"));
    break;
  default:
    write_blkio(leaf, l, f);
    break;
  }
}

static void v1_create(uid_t uid, const struct cg_limits *l) {
  v1_destroy(uid);
  for (int c = 0; c < C_COUNT; c++) {
    cleanup_fd int leaf = open_leaf(c, uid, true);
    if (leaf < 0) {
      if (!needed(c, l))
        continue;
      die(EXIT_REFUSED, "can't apply the %s limit: the %s cgroup controller is not mounted; "
                        "ask your administrator to run \"cellsh-admin doctor\"",
          controllers[c], controllers[c]);
    }
    write_limits(c, leaf, l, NULL);
  }
}

static bool v1_update(uid_t uid, const struct cg_limits *l, struct cg_fail *f) {
  for (int c = 0; c < C_COUNT; c++) {
    cleanup_fd int leaf = open_leaf(c, uid, false);
    if (leaf >= 0)
      write_limits(c, leaf, l, f);
    else if (needed(c, l))
      cg_refuse(f, "the container has no %s cgroup to hold the new limit", controllers[c]);
  }
  return !f->failed;
}

static int v1_procs(uid_t uid) {
  cleanup_fd int leaf = open_leaf(C_PIDS, uid, false);
  return leaf < 0 ? -1 : cg_count_procs(leaf);
}

static int v1_open_entry(uid_t uid, const struct cg_limits *l, struct cg_entry *e) {
  e->n = 0;
  for (int c = 0; c < C_COUNT; c++) {
    cleanup_fd int leaf = open_leaf(c, uid, false);
    if (leaf < 0 && !needed(c, l))
      continue;
    int fd = leaf < 0 ? -1 : RETRY(openat(leaf, "cgroup.procs", O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd < 0) {
      for (int i = 0; i < e->n; i++)
        close(e->fds[i]);
      e->n = 0;
      return -1;
    }
    e->fds[e->n++] = fd;
  }
  return 0;
}

/* v1 tells of OOM through an eventfd registered on memory.oom_control (a
 * root-only write to cgroup.event_control); its pids.events notifies no one,
 * so that one is read once a second. */
#define V1_PIDS_POLL_MS 1000

static void v1_watch(uid_t uid, struct cg_watch *w) {
  *w = (struct cg_watch){.wake = {-1, -1}, .memory_dir = open_leaf(C_MEMORY, uid, false), .pids_dir = open_leaf(C_PIDS, uid, false), .poll_ms = V1_PIDS_POLL_MS};
  if (w->memory_dir >= 0) {
    cleanup_fd int oom = RETRY(openat(w->memory_dir, "memory.oom_control", O_RDONLY | O_CLOEXEC));
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    char reg[32];
    xsnprintf(reg, sizeof reg, "%d %d", efd, oom);
    if (oom >= 0 && efd >= 0 && write_file_at(w->memory_dir, "cgroup.event_control", reg))
      w->wake[0] = efd;
    else if (efd >= 0)
      close(efd);
  }
}

/* On a hybrid host (systemd's), /sys/fs/cgroup/unified is a cgroup v2
 * hierarchy beside the v1 ones, where the user's manager may own a cgroup. */
static void v1_adopt_helper(void) {
  struct statfs fs;
  if (statfs(UNIFIED, &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC)
    return;
  cleanup_fd int root = cg_open_root(UNIFIED, CGROUP2_SUPER_MAGIC);
  cleanup_fd int base = cg_subdir(root, CELLSH_CGROUP_NAME, UNIFIED);
  cg_enter_helpers(base, CELLSH_CGROUP_NAME);
}

static void v1_events(const struct cg_watch *w, struct cg_events *out) {
  out->oom_kills = w->memory_dir < 0 ? 0 : cg_read_key(w->memory_dir, "memory.oom_control", "oom_kill");
  out->pids_max = w->pids_dir < 0 ? 0 : cg_read_key(w->pids_dir, "pids.events", "max");
}

const struct cg_backend cg_v1 = {
    .name = "v1",
    .create = v1_create,
    .update = v1_update,
    .procs = v1_procs,
    .open_entry = v1_open_entry,
    .destroy = v1_destroy,
    .watch = v1_watch,
    .events = v1_events,
    .adopt_helper = v1_adopt_helper,
};
