/* Resource limits of a container, behind one narrow interface with a cgroup v2
 * and a cgroup v1 backend (crun's table of functions is the model). Every
 * node is root's, named from the numeric uid only, and created before any of
 * the user's code runs; if a limit can't be applied the login is refused,
 * never run unlimited (SA-30). */
#ifndef CELLSH_CGROUP_H
#define CELLSH_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy.h"

#define CG_MAX_FDS 4

/* Open handles on the cgroup.procs files of one container's cgroup(s). */
struct cg_entry {
  int fds[CG_MAX_FDS];
  int n;
};

/* How often the container ran into a limit, as the kernel counts it. */
struct cg_events {
  uint64_t oom_kills; /* processes the OOM killer ended at the memory limit */
  uint64_t pids_max;  /* forks refused at the pids limit */
};

/* What a session's monitor watches: fds that become readable when a counter
 * may have moved (an inotify fd, or a v1 OOM eventfd), and the folders whose
 * files hold the counters. Opened as root, read as the user. -1 = none. A
 * counter the kernel never notifies about is read every poll_ms (0: none). */
struct cg_watch {
  int wake[2];
  int memory_dir, pids_dir;
  int poll_ms;
};

/* Where a failed limit write goes: NULL dies (a new container gets every
 * limit or none at all); otherwise the first failure is recorded here (a live
 * update says what it could not apply, and the login decides). */
struct cg_fail {
  bool failed;
  char why[320];
};

struct cg_backend {
  const char *name;
  /* Create uid's cgroup afresh (removing a stale one) with these limits. */
  void (*create)(uid_t uid, const struct cg_limits *limits);
  /* Open uid's cgroup.procs files; returns 0, or -1 if a node these limits
   * need is missing. That the nodes hold the limits is the container record's
   * to say (state.h). */
  int (*open_entry)(uid_t uid, const struct cg_limits *limits, struct cg_entry *entry);
  /* Set every limit of uid's existing cgroup to these (one the policy dropped
   * goes back to no limit); false, with the reason in f, if one could not be
   * applied (v1 refuses a memory limit below what is in use). */
  bool (*update)(uid_t uid, const struct cg_limits *limits, struct cg_fail *f);
  /* How many processes run in uid's cgroup (its init counts), or -1. */
  int (*procs)(uid_t uid);
  /* Kill whatever still runs in uid's cgroup and remove it; missing is fine. */
  void (*destroy)(uid_t uid);
  /* Open what tells about uid's limit events (as root, before the privilege
   * drop); whatever can't be watched is left at -1. */
  void (*watch)(uid_t uid, struct cg_watch *w);
  /* Read the counters; those that can't be read stay 0. */
  void (*events)(const struct cg_watch *w, struct cg_events *out);
  /* Move the calling process (the helper, root by now) out of the cgroup its
   * caller put it in, into cellsh's own root-owned "helpers" cgroup, on every
   * cgroup v2 hierarchy: a user who owns a v2 cgroup (a systemd user manager
   * delegates one) could otherwise kill (cgroup.kill), freeze (cgroup.freeze)
   * or starve (memory.max) a root process of cellsh's, the session's monitor
   * and its exit event with it. */
  void (*adopt_helper)(void);
};

extern const struct cg_backend cg_v1, cg_v2;

/* The backend for this host's hierarchy. */
const struct cg_backend *cg_detect(void);

/* The leaf below cellsh's subtree that holds the helpers themselves. */
#define CG_HELPERS "helpers"

/* Move the calling process into dir/CG_HELPERS (made if missing). */
void cg_enter_helpers(int dir, const char *what);

/* Move the calling process into the cgroup(s) of an opened entry, then close it. */
void cg_enter(struct cg_entry *entry);

/* Helpers shared by the backends (cgroup.c). */
int cg_open_root(const char *path, long magic);
int cg_subdir(int parent, const char *name, const char *what);
void cg_write(int dir, const char *file, const char *value, const char *what);
/* Write value to dir/file: with f NULL as cg_write (dies), else false with the
 * first failure recorded in f. */
bool cg_set(struct cg_fail *f, int dir, const char *file, const char *value);
/* A limit that cannot be had: with f NULL die (EXIT_REFUSED) with the message,
 * else record it in f. */
void cg_refuse(struct cg_fail *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Lines in dir/cgroup.procs, or -1 if it can't be read. */
int cg_count_procs(int dir);
/* Remove every device rule in a keyed file ("MAJ:MIN ...") that the limits do
 * not list, by writing "MAJ:MIN <clear>" for it. */
void cg_clear_other_devices(struct cg_fail *f, int dir, const char *file, const struct cg_limits *l,
                            const char *clear);
/* SIGKILL every process of dir/cgroup.procs whose /proc/PID/cgroup still has
 * the line member (e.g. "pids:/cellsh/u1001"), through a pidfd, until none is left. */
void cg_kill_procs(int dir, const char *member, const char *what);
/* The number after "key " in a flat-keyed file ("oom_kill 3"), or 0. */
uint64_t cg_read_key(int dir, const char *file, const char *key);
/* Is swap in use on this host (a line in /proc/swaps)? Swap limits that the
 * kernel can't enforce matter only then. */
bool cg_host_has_swap(void);
/* Watch dir/file for changes with an inotify fd (created on first use in *fd). */
void cg_watch_file(int *fd, int dir, const char *file);

#endif
