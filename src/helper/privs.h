/* Giving up privilege, in one order, checked after every step (SA-26). */
#ifndef CELLSH_PRIVS_H
#define CELLSH_PRIVS_H

#include <sys/types.h>

#include "policy.h"

/* Become uid/gid for good: empty bounding, ambient, inheritable, permitted and
 * effective capability sets, no_new_privs, and a check that each took effect
 * (including that setuid(0) now fails). Works in the host user namespace (the
 * monitor) and in the container's (where uid 0 is unmapped, so the kernel does
 * not clear capabilities on setresuid by itself and this must). Supplementary
 * groups must already be set: in the container's namespace setgroups(2) is
 * denied; n_groups is how many were set, checked again after the drop. The
 * process stays non-dumpable until it execs. */
void drop_privileges(uid_t uid, gid_t gid, unsigned n_groups);

/* The session's monitor: stays uid 0 (real, effective, saved), so the user
 * can't signal, stop, renice, prlimit or ptrace it and the exit event can't be
 * suppressed or cut (SA-07), but holds no capability and no supplementary
 * group, sets no_new_privs and stays non-dumpable; checked after. It can still
 * signal the session's program: as the owner of the container's user namespace
 * it has CAP_KILL there (user_namespaces(7), "Capabilities"). */
void confine_monitor(void);

/* In the container's user namespace, once joined (with root inside): become
 * uid and gid 0 there, with group 0 alone, a bounding, permitted and effective
 * set of ROOT_CAPS (privs.c) and nothing more, no ambient or inheritable
 * capability, no_new_privs; checked after. An exec as root keeps exactly
 * these. The process stays non-dumpable until it execs. */
void become_root_inside(void);

/* Join a new, empty session keyring of this process's own (or die). */
void fresh_session_keyring(void);

/* Set the supplementary groups (while still root in the host namespace). */
void set_groups(const struct user_policy *u);

/* Run with the user's file-system rights (fsuid/fsgid) or back to root's;
 * setfsuid(2) reports no errors, so each call reads the value back. */
void fs_as_user(uid_t uid, gid_t gid);
void fs_as_root(void);

#endif
