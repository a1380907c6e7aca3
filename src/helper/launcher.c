/* cellsh: the program in /etc/passwd. Static and not setuid: it keeps only the
 * allowlisted session variables (sshd may have loaded ~/.pam_environment, so
 * LD_PRELOAD or NODE_OPTIONS can arrive set by the user; being static, no
 * dynamic loader of ours ever reads them), then starts Node with fixed flags on
 * a fixed script, with HOME pointing at a root-owned folder and cwd "/", so
 * Node loads nothing from the user's home (SA-37, SA-38). */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "env.h"
#include "util.h"

#define LOGIN_SCRIPT CELLSH_LIBDIR "/dist/src/cli/login.js"
#define MAX_ARGS 4096

extern char **environ;

int main(int argc, char **argv) {
  if (getuid() == 0)
    die(EXIT_REFUSED, "cellsh does not serve root; give root a normal shell");
  if (geteuid() != getuid() || getegid() != getgid())
    die(EXIT_CONFIG, "cellsh must not be setuid or setgid; reinstall it with install.sh");
  if (argc < 1 || argc > MAX_ARGS)
    die(EXIT_USAGE, "unexpected number of arguments");
  struct kept_env env;
  env_keep(environ, &env);
  if (env_add(&env, "PATH", "/usr/bin:/bin") < 0 || env_add(&env, "HOME", CELLSH_LIBDIR) < 0)
    die(EXIT_INTERNAL, "environment too large");
  if (chdir("/") < 0)
    die_errno(EXIT_INTERNAL, "can't change to \"/\"");
  char *nargv[MAX_ARGS + 8];
  int n = 0;
  nargv[n++] = (char *)CELLSH_NODE;
  nargv[n++] = "--disallow-code-generation-from-strings";
  nargv[n++] = "--no-warnings";
  nargv[n++] = (char *)LOGIN_SCRIPT;
  nargv[n++] = "--";
  /* argv[0] is passed on as data: a leading '-' means "login shell". */
  nargv[n++] = argc > 0 && argv[0] ? argv[0] : "cellsh";
  for (int i = 1; i < argc; i++)
    nargv[n++] = argv[i];
  nargv[n] = NULL;
  execve(CELLSH_NODE, nargv, env.vars);
  die_errno(EXIT_CONFIG, "can't start %s", CELLSH_NODE);
}
