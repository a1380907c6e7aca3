/* Policy changes reaching a running container. Each container's record keeps
 * what it was made with and the limits its cgroup holds (state.h). At a join,
 * under the per-uid lock:
 *  - limits cgroups can change live (memory, memory_high, swap, pids, cpu,
 *    io) are written in place, and verified like any join's;
 *  - the keys that shape the container itself wait for a restart, which the
 *    policy's `restart` times: at a login once nothing of the user's runs in
 *    it (idle), at the next login (login), or only by hand (manual). Until
 *    then sessions join the container as it is, and interactive logins are
 *    told what is pending and when. A change that takes access away restarts
 *    at the next login whatever the timing: the old container would keep it.
 *    Which keys those are is the contract's (RECORD_CHANGES in
 *    src/contract/index.ts, generated as RESTART_KEYS): drift.c only compares.
 * Settings applied per session (shell, groups, rlimits, env) need neither. */
#ifndef CELLSH_DRIFT_H
#define CELLSH_DRIFT_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"
#include "state.h"

/* The settings that differ and need a restart, as "hostname, network" (empty
 * if none). A version-1 record's unknown fields count as unchanged. */
void drift_fields(const struct container_record *rec, const struct user_policy *u, char *out, size_t len);

/* Append what to a ", " separated list in out. */
void drift_list_add(char *out, size_t len, const char *what);

/* How much a profile confines, 0 (unconfined) to 3 (strict): default with
 * nested user namespaces is 1, default 2. Each session gets the policy's
 * filter as it starts; a container whose processes ever had a weaker one than
 * the policy's now must restart (drift_takes_access). */
unsigned seccomp_strength(const struct user_policy *u);

/* Does the change take access away (another group id, another home, the
 * host's network gone, a stricter seccomp filter than some of its processes
 * have)? Then the old container must not serve another login. */
bool drift_takes_access(const struct container_record *rec, const struct user_policy *u);

/* Give u the container's own values of those settings, so a session joining
 * it matches it (its mapped gid, its home, its names). */
void drift_adopt(const struct container_record *rec, struct user_policy *u);

/* Note in rec what a container made from u is made of. */
void drift_record(struct container_record *rec, const struct user_policy *u);

#endif
