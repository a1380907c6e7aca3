/* The helper's whole command-line grammar (its words and bounds are the
 * contract's: src/contract/index.ts, generated into contract.h). No option carries a uid, path, mount,
 * namespace or limit: those come from the compiled policy only (SA-02, SA-09).
 *
 *   cellsh-helper login [--pty SPEC] [--agent] [--set KEY=VALUE]...
 *                                             the user's login shell, inside
 *   cellsh-helper run [--pty SPEC] [--agent] [--set KEY=VALUE]... COMMAND
 *                                             COMMAND (one opaque string) through
 *                                             the user's shell with -c, inside
 *   cellsh-helper stop [UID [--notice TEXT]]  stop the caller's container; UID (and
 *                                             a line each session prints as it ends,
 *                                             the reason) is accepted only from root
 *   cellsh-helper netns                       the caller's container (started if none
 *                                             runs): its network namespace is sent
 *                                             over fd 3, for sshd's session (the PAM
 *                                             module, pam/pam_cellsh.c)
 *   cellsh-helper ports                       root only: keep the UDP ports the
 *                                             applied policy publishes for the
 *                                             NAT's account (port-guard.h)
 *
 * SPEC is MASK:ROWSxCOLS. MASK (1-7) says which of fds 0, 1, 2 get the inner
 * pty; the pty master is then sent over fd 3, which must be an AF_UNIX
 * SOCK_SEQPACKET socket whose peer runs as the caller.
 *
 * --set is a setting the user chose for themselves (~/.config/cellsh.yaml, read
 * by cellsh as the user), in the compiled policy's notation; the helper takes it
 * only if the policy lets the user set that key, and never above the admin's
 * value (policy_override in policy.h).
 *
 * --agent asks for an SSH agent socket inside the container: the program gets
 * SSH_AUTH_SOCK=/run/cellsh/agents/current, and a listening socket there plus
 * the folder's fd are sent over fd 3 (the caller relays them to its agent). */
#ifndef CELLSH_ARGS_H
#define CELLSH_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "contract.h" /* enum verb, MAX_SETS, SET_MAX, PTY_MAX_DIM, NOTICE_MAX, CHANNEL_FD */

struct request {
  enum verb verb;
  char *command;     /* VERB_RUN: the string for "shell -c" (points into argv) */
  unsigned pty_mask; /* 0: no pty; bit i: fd i gets the inner pty */
  unsigned short rows, cols;
  bool agent;        /* --agent: an agent socket inside, relayed by the caller */
  bool has_stop_uid; /* VERB_STOP with an explicit UID */
  uid_t stop_uid;
  const char *notice;         /* VERB_STOP: what the stopped sessions print, or NULL */
  const char *sets[MAX_SETS]; /* --set KEY=VALUE, in order (point into argv) */
  unsigned n_sets;
};

/* A notice is 1-NOTICE_MAX bytes without control characters. */
bool valid_notice(const char *s);

/* "MASK:ROWSxCOLS" (the value of --pty), every number strictly decimal and
 * in range; false if it is not that. */
bool parse_pty_spec(const char *s, unsigned *mask, unsigned short *rows, unsigned short *cols);

/* Parse argv; returns false (with a reason in err) if it is not in the grammar. */
bool parse_args(int argc, char **argv, struct request *req, char *err, size_t errlen);

#endif
