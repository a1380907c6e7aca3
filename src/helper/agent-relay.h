/* The SSH agent relay of a session without a terminal (`ssh -A host cmd`,
 * git and rsync with an agent), in the launcher: no Node is started for it.
 * It runs as the user on the host, outside the container, as Node's relay
 * does (src/session/agent.ts, whose rules it follows): it holds sshd's agent
 * socket and the session's listening socket inside the container, which the
 * helper sends over the channel, and nothing else. Not part of cellsh-helper. */
#ifndef CELLSH_AGENT_RELAY_H
#define CELLSH_AGENT_RELAY_H

#include <stdbool.h>
#include <sys/types.h>

#include "contract.h"

#define AGENT_NAME_MAX 64 /* bytes of a session's socket name, with its NUL */

/* The agent socket sshd made for this user, if path is one: "/tmp/ssh-" and
 * 10 letters or digits, "/agent." and digits; the folder a 0700 one of uid's
 * and not a link, the socket uid's. Returns an O_PATH fd of the checked
 * socket (connecting through /proc/self/fd/N reaches that socket, whatever is
 * renamed or linked at the path later), or -1 if there is no such agent. */
int agent_host_socket(const char *path, uid_t uid);

/* Start a relay for a session about to exec the helper with --agent: a
 * process of its own (not a child of the helper) that waits for the helper's
 * "started" message with the session's listening socket, relays each
 * connection to host_fd's socket until the program ends, then removes the
 * session's socket and points "current" at another live session's. Returns
 * the helper's end of the channel, or -1 if no relay could start. host_fd is
 * closed in this process either way. */
int agent_relay_start(int host_fd);

/* Read the helper's "started" message as the relay needs it: with --agent,
 * "started SESSION CONTAINER created|joined MS-SESSION.sock". Copies the
 * session id (STARTED_ID_LEN + 1 bytes) and the socket's name (AGENT_NAME_MAX)
 * out; false for anything else. */
bool agent_parse_started(const char *message, char *session, char *name);

#endif
