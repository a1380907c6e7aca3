/* cellsh: the program in /etc/passwd. Static and not setuid: it keeps only the
 * allowlisted session variables (sshd may have loaded ~/.pam_environment, so
 * LD_PRELOAD or NODE_OPTIONS can arrive set by the user; being static, no
 * dynamic loader of ours ever reads them), then starts Node with fixed flags on
 * a fixed script, with HOME pointing at a root-owned folder and cwd "/", so
 * Node loads nothing from the user's home (SA-37, SA-38).
 *
 * The fast path: a plain command (`ssh host cmd`, scp, rsync, git) with no
 * terminal, no agent to relay and no settings of the user's own to read needs
 * nothing Node does, so it goes to the helper directly: the cost of a login is
 * then the helper's, not Node's start. The helper checks everything itself, as
 * on every path; anything unusual (a terminal, an agent, a login, sftp through
 * ForceCommand, a user not in the policy) takes the Node path. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "env.h"
#include "policy.h"
#include "util.h"

#define LOGIN_SCRIPT CELLSH_LIBDIR "/dist/src/cli/login.js"
#define HELPER CELLSH_LIBDIR "/cellsh-helper"
#define MAX_ARGS 4096

extern char **environ;

/* Is the -c command cellsh itself (sshd's ForceCommand runs "shell -c cellsh")? */
static bool is_self(const char *cmd) {
  char self[PATH_MAX_LEN + 1];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  const char *base = strrchr(cmd, '/');
  if (n > 0)
    self[n] = '\0';
  return (n > 0 && !strcmp(cmd, self)) || !strcmp(base ? base + 1 : cmd, "cellsh");
}

/* May the caller's uid skip Node: in the policy, with no settings of its own? */
static bool plain_record(void) {
  size_t len;
  cleanup_free char *buf = read_small_at(AT_FDCWD, CELLSH_POLICY_PATH, POLICY_MAX_BYTES, &len);
  struct user_policy u;
  char err[256];
  return buf && strlen(buf) == len && policy_parse(buf, getuid(), &u, err, sizeof err) == 1 && u.user_may == 0;
}

/* The command of a fast-path invocation, or NULL for the Node path. */
static char *fast_command(int argc, char **argv, const struct kept_env *env) {
  char *cmd = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-l") || !strcmp(argv[i], "--login"))
      continue;
    if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "-lc") || !strcmp(argv[i], "-cl")) && !cmd && i + 1 < argc) {
      cmd = argv[++i];
      continue;
    }
    return NULL; /* Node says what is wrong with the arguments */
  }
  if (!cmd || is_self(cmd))
    return NULL; /* a login, or ForceCommand (SSH_ORIGINAL_COMMAND, internal-sftp) */
  for (int fd = 0; fd < 3; fd++)
    if (isatty(fd))
      return NULL; /* the terminal is relayed by Node */
  if (env_value(env, "SSH_AUTH_SOCK") || !plain_record())
    return NULL;
  return cmd;
}

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
  char *fast = fast_command(argc, argv, &env);
  if (fast) {
    char *hargv[] = {"cellsh-helper", "run", fast, NULL};
    execve(HELPER, hargv, env.vars);
    /* not there or not ours to run: the Node path says why in plain words */
  }
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
