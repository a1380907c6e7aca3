/* Which container belongs to whom: one root-owned record per uid in the state
 * folder, written only after the container is fully confined, and a lock that
 * makes concurrent first logins create exactly one container (SA-22, SA-23, SA-25).
 *
 * Record file "<uid>.state" (text, one "key value" per line):
 *   cellsh-state 2 / uid / id / init_pid / init_start / created_ms / network / gid /
 *   ns_pid ns_mnt ns_uts ns_ipc ns_net ns_cgroup ns_user (namespace inode numbers) /
 *   name / group / home / hostname / image / layer / root (what the container was made with) /
 *   policy (the admin's record it was last brought in line with, 16 hex digits) /
 *   limits (the cgroup limits it holds: struct cg_limits's bytes in hex, "-" for
 *   unknown) / swapped (1 if the host swapped when they were written) / pending (changes waiting
 *   for a restart, comma separated, "-" for none) / seccomp (the weakest filter
 *   any of its processes got, 0-3; absent in records from before filters: 0)
 * A version 1 record (written before policy changes reached running
 * containers) is read with those fields unknown: empty, 0 and none. */
#ifndef CELLSH_STATE_H
#define CELLSH_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "policy.h"

/* The namespaces of a container, in the order they are recorded. */
enum { NS_PID,
       NS_MNT,
       NS_UTS,
       NS_IPC,
       NS_NET,
       NS_CGROUP,
       NS_USER,
       NS_COUNT };
extern const char *const ns_names[NS_COUNT];

struct container_record {
  uid_t uid;
  char id[13];         /* 12 hex digits, shown in logs and cellsh-admin ps */
  pid_t init_pid;      /* host pid of the container's pid 1 */
  uint64_t init_start; /* its start time (/proc/PID/stat field 22), against pid reuse */
  uint64_t created_ms;
  enum network_mode network;
  gid_t gid;             /* the gid mapped inside: changing it needs a restart */
  uint64_t ns[NS_COUNT]; /* inode numbers of /proc/PID/ns/<name> */
  /* Made with these; a change needs a restart ("" if unknown). */
  char name[NAME_MAX_LEN + 1], group[NAME_MAX_LEN + 1];
  char home[PATH_MAX_LEN + 1], hostname[HOSTNAME_MAX_LEN + 1];
  char image[IMAGE_VALUE_MAX + 1]; /* policy.h's "image": "host" or "NAME ID" */
  char layer[LAYER_VALUE_MAX + 1]; /* policy.h's "layer": "temporary BYTES" or "persistent BYTES" */
  char root[ROOT_VALUE_MAX + 1];   /* policy.h's "root": "none" or four ids */
  uint64_t policy_hash;            /* record_hash of the admin's record at the last login */
  /* The limits its cgroup holds for certain, written when the host swapped or
   * not: unknown (limits_known false) while new ones are being written, or
   * after a write failed. */
  struct cg_limits limits;
  bool limits_known, host_swapped;
  char pending[96];       /* what waits for a restart, "" for nothing */
  unsigned seccomp_floor; /* the weakest seccomp filter any process in it got (drift.h's
                              seccomp_strength); 0 in a record from before filters */
  uint32_t udp_ports;     /* the host UDP ports published into it (policy.h); 0 for none */
};

/* Open (creating if needed) and check the state folder; returns a dir fd. */
int state_dir(void);

/* Take the per-uid lock, waiting at most wait_s seconds; returns the lock fd,
 * or -1 (with the fd closed) if it timed out. */
int state_lock(int dir, uid_t uid, unsigned wait_s);

/* Read uid's record: 1 if present and well formed, 0 if absent or damaged;
 * any other failure to read it is fatal. */
int state_read(int dir, uid_t uid, struct container_record *rec);

/* Publish a record atomically (temp file, then rename). */
void state_write(int dir, const struct container_record *rec);

/* Remove uid's record if present. */
void state_remove(int dir, uid_t uid);

/* The notice of a stop, "<uid>.notice": the stopped container's id and the
 * line its sessions print as they end. Written by root before the kill. */
void notice_write(int dir, uid_t uid, const char *container, const char *text);

/* Open (creating if needed) uid's notice for a session's monitor, as root;
 * -1 if that fails (the session then just won't say why it ended). */
int notice_open_for_reading(uid_t uid);

/* The notice in fd if it is for the container `container` (into buf). */
bool notice_read(int fd, const char *container, char *buf, size_t len);

/* "<uid>.limits": how far each kind of limit event (LIMIT_OOM, LIMIT_PIDS) of
 * uid's container has been logged. Every session's monitor tells its own
 * person, but only one logs each rise of the kernel's counter, and at most
 * once every every_ms per kind, so limit events take one line per kind and
 * container at that rate however many sessions run (the log's budget, budget.h,
 * is for what logins log). Returns how many events to log (counter minus what
 * was logged), or 0. dir: the state folder, opened by the monitor as root. */
enum { LIMIT_OOM,
       LIMIT_PIDS,
       LIMIT_KINDS };
uint64_t limit_log_claim(int dir, uid_t uid, const char *container, int kind, uint64_t counter, uint64_t every_ms);

/* Remove uid's notice (a new container starts). */
void notice_remove(int dir, uid_t uid);

/* "<uid>.join": every login on its way into a running container holds a
 * shared lock on it until its process is inside. Returns the fd. */
int join_lock(int dir, uid_t uid);

/* Is no login on its way in (the exclusive lock can be had)? */
bool join_idle(int dir, uid_t uid);

/* "<uid>.slots": every helper of uid holds a write lock (an open file
 * description lock, F_OFD_SETLK) on one byte of it until it exits, so one uid
 * never has more than min(its process limit, SESSIONS_MAX) helpers at once:
 * the helper's real uid becomes 0, so the kernel no longer counts them against
 * that limit (SA-25). Returns the fd holding the lock, or dies (EXIT_REFUSED)
 * when every slot is taken. Called before the real uid becomes 0. */
#define SESSIONS_MAX 1024
int session_slot(int dir, uid_t uid, rlim_t nproc);

/* Fill the start time and namespace inodes of pid into rec: true, or false if
 * the process is gone (or a zombie); any other failure is fatal. */
bool proc_identity(pid_t pid, struct container_record *rec);

/* Pin the recorded init with a pidfd and check that it is still the process the
 * record names (start time and every namespace inode); returns the pidfd, or -1
 * if the record is stale (the init is gone or the pid names someone else).
 * Errors that say nothing about the container (EMFILE, ENOMEM...) are fatal:
 * taking them for "stale" would destroy a live container. */
int state_pin(const struct container_record *rec);

#endif
