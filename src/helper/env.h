/* The environment is hostile (sshd can load ~/.pam_environment): keep a short
 * allowlist of session variables whose values pass strict checks, drop the rest
 * (SA-03, SA-37). Used by the launcher before Node starts and again by the
 * helper, which then clears its environment and never reads it again. */
#ifndef CELLSH_ENV_H
#define CELLSH_ENV_H

#include <stddef.h>

#define ENV_MAX_VARS 48 /* the allowlist's, cellsh's own and the policy's 16 */

struct kept_env {
  char *vars[ENV_MAX_VARS + 1]; /* "NAME=value", NULL-terminated */
  size_t n;
};

/* Copy the allowlisted, valid variables of envp into out (malloc'd copies). */
void env_keep(char **envp, struct kept_env *out);

/* The value of name in a kept environment, or NULL. */
const char *env_value(const struct kept_env *env, const char *name);

/* Append "name=value" (copied) if there is room; returns 0 or -1. */
int env_add(struct kept_env *env, const char *name, const char *value);

/* Like env_add, but replacing a variable of the same name if there is one. */
int env_set(struct kept_env *env, const char *name, const char *value);

#endif
