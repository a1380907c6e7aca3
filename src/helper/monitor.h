/* The parent side of a session: outside the container, as root with no
 * capabilities (so the user can neither signal, stop, limit nor trace it), it
 * passes signals on, tells the person when their container ran into a limit,
 * logs the end and exits with the program's status. */
#ifndef CELLSH_MONITOR_H
#define CELLSH_MONITOR_H

#include <sys/types.h>

#include "session.h"

/* Wait for the child (the session's program) and log its end; reports is the
 * read end of a pipe on which the child may leave its last words. */
NORETURN void monitor(const struct session *s, pid_t child, int reports);

#endif
