/* One login: enter the container by pidfd, confine, give the program its
 * terminal or the caller's pipes, exec; the parent stays outside as the
 * monitor that waits, logs and exits with the program's status. */
#ifndef CELLSH_SESSION_H
#define CELLSH_SESSION_H

#include <stdbool.h>
#include <sys/resource.h>

#include "args.h"
#include "caller.h"
#include "cgroup.h"
#include "env.h"
#include "log.h"
#include "policy.h"
#include "state.h"
#include "util.h"

struct session {
  const struct request *req;
  const struct user_policy *user;
  const struct kept_env *env; /* the caller's allowlisted variables */
  const struct container_record *container;
  const struct cg_backend *cg;
  bool created;                /* this login started the container */
  const char *pending;         /* settings waiting for a restart ("" none) */
  const char *restarted_for;   /* this login restarted it for these ("" no) */
  struct cg_entry entry;       /* the container's cgroup.procs, opened */
  int join_lock;               /* shared lock held until the program is inside */
  int init_pidfd;              /* pins the container's pid 1 */
  int channel;                 /* fd 3 (SOCK_SEQPACKET to cellsh), or -1 */
  int slot;                    /* holds one of the uid's session slots (state.h) */
  int inside;                  /* cellsh-inside, opened as root (inside.h), or -1 */
  bool inside_reports;         /* it may have the pipe to the monitor (main.c) */
  char id[13];                 /* session id for the log */
  mode_t umask;                /* the caller's, restored for the program */
  struct caller_limits limits; /* the caller's, restored for the program */
  uint64_t started_ms;
  const char *root_command; /* a root session's command ("" a login shell), or NULL */
  const char *workdir;      /* where a login shell starts (an image's WorkingDir), or NULL: the home */
};

/* "root" or "root COMMAND" asked for a session as root inside (policy "root"):
 * the command ("" for a login shell), or NULL for an ordinary session. */
const char *root_request(const struct request *req);

/* The line end of what the helper tells the person: with a pty, their
 * terminal is raw while cellsh relays (or soon will be), so "\r\n". */
static inline const char *tell_nl(const struct session *s) {
  return s->req->pty_mask ? "\r\n" : "\n";
}

/* Start f with the session's own fields: user, uid, session and, once it has
 * one, the container. */
void log_session_fields(struct log_fields *f, const struct session *s, bool container);

/* Does the session need cellsh-inside: a terminal, an agent or a started
 * message to send (cellsh's channel), or a notice for a login to tell? A plain
 * command goes straight to the shell, an exec sooner. */
bool session_needs_inside(const struct session *s);

/* Refuse a join to a container that can't be brought in line with the policy
 * (a limit that can't be applied live) and can't restart now. */
NORETURN void restart_needed(const char *user, const char *what);

/* Run the session; never returns. Exits with the program's status (128+N if
 * it died of signal N). */
NORETURN void session_run(const struct session *s);

#endif
