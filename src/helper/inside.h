/* How the helper starts cellsh-inside (inside.c), a session's last steps, run
 * as the user. Both sides are C; this is its argv:
 *
 *   cellsh-session PTY AGENT CHANNEL REPORT SESSION CONTAINER CREATED STARTED_MS
 *                  NOTICE SETTINGS USER PROGRAM ARGV0 [ARG]...
 *
 * PTY "MASK:ROWSxCOLS" or "-"; AGENT "agent" or "-"; CHANNEL the fd of
 * cellsh's channel or "-"; REPORT the fd of the pipe to the session's monitor;
 * SESSION and CONTAINER the ids; CREATED the "started" message's word for it;
 * STARTED_MS the session's start; NOTICE one of INSIDE_NOTICE_* and SETTINGS
 * the settings it is about, USER whose; then the program to exec and its argv.
 * Its environment is the program's, but SSH_TTY. */
#ifndef CELLSH_INSIDE_H
#define CELLSH_INSIDE_H

#include <stdbool.h>

#include "contract.h"

#define INSIDE_SESSION_NAME "cellsh-session"

enum inside_arg {
  INSIDE_PTY = 1,
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
  INSIDE_PROGRAM /* then its argv, from argv[0] */
};

/* What an interactive login is told about its container's settings. */
#define INSIDE_NOTICE_NONE "-"
#define INSIDE_NOTICE_RESTARTED "restarted"           /* this login restarted it for SETTINGS */
#define INSIDE_NOTICE_PENDING "pending"               /* SETTINGS wait for an idle restart */
#define INSIDE_NOTICE_PENDING_MANUAL "pending-manual" /* SETTINGS wait for a restart by hand */

struct inside_args {
  bool agent, created;
  unsigned pty_mask; /* 0: no terminal */
  unsigned short rows, cols;
  int channel, report;
  const char *session, *container, *started_ms, *notice, *settings, *user, *program;
  char **program_argv;
};

#endif
