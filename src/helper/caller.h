/* The calling process's state, as the helper inherits it from whoever exec'd
 * it: fds, terminals, resource limits, timers and signals. Each is checked or
 * neutralised before any privileged work (SA-05, SA-07), and the refusals
 * happen while the real uid is still the caller's: until take_identity(), the
 * caller can kill the helper and it counts against their process limit, so a
 * refusal that blocks on a full stderr pipe parks nothing of root's. */
#ifndef CELLSH_CALLER_H
#define CELLSH_CALLER_H

#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

/* The caller's limits the helper replaced while privileged, restored for the
 * user's program (the policy sets the others: nofile, nproc, core). */
enum { CL_FSIZE,
       CL_CPU,
       CL_AS,
       CL_DATA,
       CL_STACK,
       CL_COUNT };
struct caller_limits {
  struct rlimit saved[CL_COUNT];
  rlim_t nproc; /* the caller's process limit (soft), which bounds their sessions */
};

/* fds 0-2 open (on /dev/null if closed), everything above the channel closed,
 * interval timers cleared (they survive execve(2) and would signal root code
 * at a moment of the caller's choosing). First thing in main. */
void caller_sanitize_fds_and_timers(void);

/* Refuse to run inside a container (no_new_privs) or not setuid; clean signal
 * state; limits that could cut or starve root code raised, the caller's kept
 * in *out. */
void caller_check_entry(struct caller_limits *out);

/* Refuse terminals and host handles on fds 0-2 (SA-05, SA-31). */
void caller_check_stdio(void);

/* fd 3 as cellsh's channel if it is an AF_UNIX SOCK_SEQPACKET socket whose
 * peer runs as uid; else closed (and refused if required). Returns it or -1. */
int caller_take_channel(bool required, uid_t uid);

/* Keep the caller's uid as data and make the real uid 0 (see main.c). */
uid_t caller_take_identity(void);

/* The signals the session's monitor passes on to the program. They are held
 * (blocked) from entry until the monitor takes them, so one that comes during
 * setup (a ^C from a terminal whose foreground the caller made the helper's
 * process group, root's SIGTERM) reaches the program then, never root code. */
#define PASSED_ON_SIGNALS \
  { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2 }
void caller_passed_on(sigset_t *set);

/* In the session's program, before exec: the caller's limits and the default
 * signal state back. */
void caller_restore(const struct caller_limits *l);

#endif
