/* How the helper starts cellsh-inside (inside.c): the container's init and a
 * session's last steps, run as the user. Both sides are C; this is their argv.
 *
 *   cellsh-init
 *   cellsh-session VERB PTY AGENT CHANNEL REPORT SESSION CONTAINER CREATED
 *                  STARTED_MS NOTICE SETTINGS USER HOME SHELL COMMAND [NAME=VALUE]...
 *
 * VERB "login" or "run"; PTY "MASK:ROWSxCOLS" or "-"; AGENT "agent" or "-";
 * CHANNEL the fd of cellsh's channel or "-"; REPORT the fd of the pipe to the
 * session's monitor; SESSION and CONTAINER the ids; CREATED the "started"
 * message's word for it; STARTED_MS the session's start; NOTICE one of
 * INSIDE_NOTICE_* and SETTINGS the settings it is about; USER, HOME and SHELL
 * the policy's; COMMAND what "run" runs ("" for a login); then the policy's
 * variables. Its environment is the caller's allowlisted variables (env.h). */
#ifndef CELLSH_INSIDE_H
#define CELLSH_INSIDE_H

#include <stdbool.h>

#include "contract.h"

#define INSIDE_INIT "cellsh-init"
#define INSIDE_SESSION_NAME "cellsh-session"

enum inside_arg {
  INSIDE_VERB = 1,
  INSIDE_PTY,
  INSIDE_AGENT,
  INSIDE_CHANNEL,
  INSIDE_REPORT,
  INSIDE_SESSION,
  INSIDE_CONTAINER,
  INSIDE_CREATED,
  INSIDE_STARTED_MS,
  INSIDE_NOTICE,
  INSIDE_SETTINGS,
  INSIDE_USER,
  INSIDE_HOME,
  INSIDE_SHELL,
  INSIDE_COMMAND,
  INSIDE_ENV /* the first of the policy's variables, if any */
};

/* What an interactive login is told about its container's settings. */
#define INSIDE_NOTICE_NONE "-"
#define INSIDE_NOTICE_RESTARTED "restarted"           /* this login restarted it for SETTINGS */
#define INSIDE_NOTICE_PENDING "pending"               /* SETTINGS wait for an idle restart */
#define INSIDE_NOTICE_PENDING_MANUAL "pending-manual" /* SETTINGS wait for a restart by hand */

struct inside_args {
  bool login, agent, created;
  unsigned pty_mask; /* 0: no terminal */
  unsigned short rows, cols;
  int channel, report;
  const char *session, *container, *started_ms, *notice, *settings, *user, *home, *shell, *command;
  char **env; /* the policy's NAME=VALUE, n_env of them */
  int n_env;
};

#endif
