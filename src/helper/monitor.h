/* The parent side of a session: outside the container, as the user, it passes
 * signals on, tells the person when their container ran into a limit, logs the
 * end and exits with the program's status. */
#ifndef CELLSH_MONITOR_H
#define CELLSH_MONITOR_H

#include <sys/types.h>

#include "session.h"

NORETURN void monitor(const struct session *s, pid_t child);

#endif
