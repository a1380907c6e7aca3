/* cellsh: the program in /etc/passwd. Static and not setuid: it keeps only the
 * allowlisted session variables (sshd may have loaded ~/.pam_environment, so
 * LD_PRELOAD or NODE_OPTIONS can arrive set by the user; being static, no
 * dynamic loader of ours ever reads them), then starts Node with fixed flags on
 * a fixed script, with HOME pointing at a root-owned folder and cwd "/", so
 * Node loads nothing from the user's home (SA-37, SA-38).
 *
 * Two routes skip work Node would do for nothing. Both are taken only for a
 * user in the policy with no settings of their own to read, and the helper
 * checks everything itself, as on every path; anything unusual (a forwarded display, an agent to
 * relay, a user not in the policy, arguments Node must explain) takes the
 * Node path. Sessions through sshd's ForceCommand route like the request
 * they carry (SSH_ORIGINAL_COMMAND, or a login when there is none).
 * - The fast path: a plain command (`ssh host cmd`, scp, rsync, git) with no
 *   terminal goes to the helper directly: its cost is then the helper's, not
 *   Node's start.
 * - The early start: a terminal session (`ssh host`, `su - user`, `ssh -t host
 *   cmd`) starts the helper here, so the container's shell is starting while
 *   Node loads (about 25 ms), and Node only relays (src/cli/attached.ts). The
 *   helper gets what Node would give it: the pty request, its channel on fd 3,
 *   /dev/null for the terminals and a pipe for stderr when that is one (no
 *   outside terminal reaches the container, SA-31). Node gets the channel on
 *   fd 3 and the pipe on fd 4. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent-relay.h"
#include "args.h"
#include "config.h"
#include "env.h"
#include "policy.h"
#include "util.h"

#define LOGIN_SCRIPT CELLSH_LIBDIR "/dist/src/cli/login.js"
#define ATTACHED_SCRIPT CELLSH_LIBDIR "/dist/src/cli/attached.js"
#define HELPER CELLSH_LIBDIR "/cellsh-helper"
#define MAX_ARGS 4096
/* HELPER_ERR_FD (Node's end of the helper's stderr, when ours is a terminal) and
 * AGENT_FD (sshd's agent socket, O_PATH and checked, for Node's relay) are the
 * contract's (contract.h). */
#define FIRST_FREE_FD 10 /* our own fds live above the ones we hand on */

extern char **environ;

/* The -c command names cellsh itself: sshd's ForceCommand runs "shell -c
 * cellsh". Only the installed launcher's path (the one install.sh writes into
 * the ForceCommand line and layout.json, which Node compares with) makes a
 * forced session here; another path or a bare "cellsh" is Node's to read. */
enum self_name { NOT_SELF,
                 SELF_EXACT,
                 SELF_NAMED };

static enum self_name self_name(const char *cmd) {
  const char *base = strrchr(cmd, '/');
  if (!strcmp(cmd, CELLSH_LAUNCHER))
    return SELF_EXACT;
  return !strcmp(base ? base + 1 : cmd, "cellsh") ? SELF_NAMED : NOT_SELF;
}

/* Where sftp servers live on Debian, Ubuntu, Fedora and RHEL (as in src/session/invocation.ts). */
static const char *const sftp_servers[] = {"/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server",
                                           "/usr/lib/ssh/sftp-server"};

static bool js_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* The command a forced session runs, as Node words it: the client's request
 * as it is, but sshd's in-process sftp ("internal-sftp [options]") becomes
 * the sftp server inside the container, its words joined by single spaces.
 * NULL for Node to decide: no server installed (Node says so), or bytes
 * beyond ASCII with the word (JavaScript's idea of white space is wider). */
static const char *forced_command(const char *original) {
  static const char word[] = "internal-sftp";
  static char sftp[128 * 1024 + 64]; /* env.c keeps SSH_ORIGINAL_COMMAND up to 128 KiB */
  if (!strstr(original, word))
    return original;
  for (const unsigned char *q = (const unsigned char *)original; *q; q++)
    if (*q >= 0x80)
      return NULL;
  const char *p = original;
  while (js_space(*p))
    p++;
  if (strncmp(p, word, sizeof word - 1) || (p[sizeof word - 1] && !js_space(p[sizeof word - 1])))
    return original;
  const char *server = NULL;
  for (size_t i = 0; i < sizeof sftp_servers / sizeof *sftp_servers && !server; i++)
    if (access(sftp_servers[i], F_OK) == 0)
      server = sftp_servers[i];
  /* The words after the first, each after one space, take no more room than they did. */
  if (!server || strlen(server) + strlen(p) + 1 > sizeof sftp)
    return NULL;
  size_t n = (size_t)snprintf(sftp, sizeof sftp, "%s", server);
  for (p += sizeof word - 1;;) {
    while (js_space(*p))
      p++;
    if (!*p)
      break;
    sftp[n++] = ' ';
    while (*p && !js_space(*p))
      sftp[n++] = *p++;
  }
  sftp[n] = '\0';
  return sftp;
}

/* May the caller's uid skip Node: in the policy, with no settings of its own? */
static bool plain_record(void) {
  cleanup_fd int fd = open(CELLSH_POLICY_PATH, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  struct user_policy u;
  char err[256];
  return fd >= 0 && policy_lookup_fd(fd, getuid(), &u, err, sizeof err) == 1 && u.user_may == 0;
}

/* Read the arguments the way Node does (src/session/invocation.ts), as far
 * as a plain login or command goes. */
static enum invocation invocation_of(int argc, char **argv, const struct kept_env *env, char **cmd) {
  *cmd = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-l") || !strcmp(argv[i], "--login"))
      continue;
    if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "-lc") || !strcmp(argv[i], "-cl")) && !*cmd && i + 1 < argc) {
      *cmd = argv[++i];
      continue;
    }
    return INVOCATION_OTHER; /* Node says what is wrong with the arguments */
  }
  /* sshd's ForceCommand: "shell -c cellsh", or plain "cellsh" through /bin/sh
   * with SSH_ORIGINAL_COMMAND set. The client's request is the command, or
   * the session is a login when it asked for none; then it routes like any. */
  const char *original = env_value(env, "SSH_ORIGINAL_COMMAND");
  enum self_name named = *cmd ? self_name(*cmd) : NOT_SELF;
  if (named == SELF_NAMED)
    return INVOCATION_OTHER;
  if (named == SELF_EXACT || (!*cmd && original)) {
    const char *forced = original && *original ? forced_command(original) : NULL;
    if (original && *original && !forced)
      return INVOCATION_OTHER;
    *cmd = (char *)(uintptr_t)forced; /* the kept environment's own string, or forced_command's */
  }
  return *cmd ? INVOCATION_COMMAND : INVOCATION_LOGIN;
}

/* Which of fds 0-2 are terminals, as a mask; -1 if one of them is closed. */
static int terminals(void) {
  int mask = 0;
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) < 0)
      return -1;
    if (isatty(fd))
      mask |= 1 << fd;
  }
  return mask;
}

/* The route table's kind of terminals for a mask from terminals(). */
static enum terminals terminals_kind(int mask) {
  return mask < 0 ? TERMINALS_CLOSED : mask == 0     ? TERMINALS_NONE
                                   : (mask & 3) == 3 ? TERMINALS_INTERACTIVE
                                                     : TERMINALS_OTHER;
}

static bool helper_runnable(void) {
  return access(HELPER, X_OK) == 0;
}

/* The route: the first row of the contract's route table (contract.h) whose
 * conditions all hold. The record and the helper are looked at only when a
 * row that the cheaper facts already match needs them. */
static enum session_route choose_route(enum invocation inv, enum terminals term, bool (*plain)(void),
                                       bool (*runnable)(void)) {
  static const struct route_row table[] = ROUTE_TABLE;
  int is_plain = -1, is_runnable = -1;
  for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
    const struct route_row *r = &table[i];
    if ((r->invocation >= 0 && r->invocation != (int)inv) || (r->terminals >= 0 && r->terminals != (int)term))
      continue;
    if (r->plain_record >= 0 && (is_plain < 0 ? (is_plain = plain()) : is_plain) != r->plain_record)
      continue;
    if (r->helper_runnable >= 0 && (is_runnable < 0 ? (is_runnable = runnable()) : is_runnable) != r->helper_runnable)
      continue;
    return r->route;
  }
  return ROUTE_NODE;
}

/* fd, moved above the fds handed on (close-on-exec, as all of ours). */
static int raise_fd(int fd) {
  int high = fcntl(fd, F_DUPFD_CLOEXEC, FIRST_FREE_FD);
  close(fd);
  return high;
}

static void close_all(const int *fds, int n) {
  for (int i = 0; i < n; i++)
    if (fds[i] >= 0)
      close(fds[i]);
}

/* Put fd at target, inheritable, and close the original. */
static void place_fd(int fd, int target) {
  if (dup2(fd, target) < 0)
    die_errno(EXIT_INTERNAL, "can't pass the session to Node");
  close(fd);
}

static unsigned dimension(unsigned short n, unsigned fallback) {
  return n == 0 ? fallback : n > PTY_MAX_DIM ? PTY_MAX_DIM
                                             : n;
}

/* Run Node on one of our scripts. Where Node parses input the user controls
 * (their settings file, on the login.js path), eval and new Function are
 * switched off as a second line of defence. That flag makes V8 reject Node's
 * own compiled code cache, which costs a login over 10 ms, so the relay of an
 * early start (which copies bytes and parses nothing) runs without it. */
static NORETURN void exec_node(char *script, bool parses_input, char **args, int n_args, char **envp) {
  char *nargv[MAX_ARGS + 8];
  int n = 0;
  nargv[n++] = (char *)CELLSH_NODE;
  if (parses_input)
    nargv[n++] = "--disallow-code-generation-from-strings";
  nargv[n++] = "--no-warnings";
  nargv[n++] = script;
  nargv[n++] = "--";
  for (int i = 0; i < n_args; i++)
    nargv[n++] = args[i];
  nargv[n] = NULL;
  execve(CELLSH_NODE, nargv, envp);
  die_errno(EXIT_CONFIG, "can't start %s", CELLSH_NODE);
}

/* The helper's argv, in its grammar (args.h): login|run [--pty SPEC] [--agent]
 * [COMMAND], with pty NULL for none. out has room for HELPER_ARGV_MAX. */
#define HELPER_ARGV_MAX 7
static void helper_argv(char **out, enum invocation inv, char *pty, bool agent, char *cmd) {
  int n = 0;
  out[n++] = "cellsh-helper";
  out[n++] = inv == INVOCATION_LOGIN ? "login" : "run";
  if (pty) {
    out[n++] = "--pty";
    out[n++] = pty;
  }
  if (agent)
    out[n++] = "--agent";
  if (inv != INVOCATION_LOGIN)
    out[n++] = cmd;
  out[n] = NULL;
}

/* In the child: become the helper, with the stdio and channel Node would give it. */
static NORETURN void exec_helper(char **hargv, char **envp, int channel, int err) {
  /* Out of the terminal's foreground process group: a key typed before the
   * relay makes the terminal raw (^C, ^\ or ^Z) cannot signal the helper while
   * it is root. Node passes signals on, as the user, once it may. */
  setpgid(0, 0);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
      (err >= 0 && dup2(err, STDERR_FILENO) < 0) || dup2(channel, CHANNEL_FD) < 0)
    die_errno(EXIT_INTERNAL, "can't prepare your session");
  execve(HELPER, hargv, envp);
  die_errno(EXIT_CONFIG, "can't run %s; ask your administrator to run \"cellsh-admin doctor\"", HELPER);
}

/* The early start: start the helper for this terminal session, then become
 * Node's relay for it (and, with agent >= 0, of sshd's agent socket: agent is
 * handed on at AGENT_FD). Returns only if nothing was started. */
static void start_early(enum invocation inv, char *cmd, int ttys, int agent, char **envp) {
  int ch[2], err[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch) < 0)
    return;
  if ((ttys & 4) && pipe2(err, O_CLOEXEC) < 0) {
    close_all(ch, 2);
    return;
  }
  for (int i = 0; i < 2; i++) {
    ch[i] = raise_fd(ch[i]);
    if (err[i] >= 0)
      err[i] = raise_fd(err[i]);
  }
  struct winsize ws = {0};
  ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
  char pty[32];
  xsnprintf(pty, sizeof pty, "%d:%ux%u", ttys, dimension(ws.ws_row, 24), dimension(ws.ws_col, 80));
  char *hargv[HELPER_ARGV_MAX];
  helper_argv(hargv, inv, pty, agent >= 0, cmd);
  /* Node learns of the helper's end by SIGCHLD and waitpid: an ignored SIGCHLD
   * (it survives exec) would let the kernel reap it, status and all. */
  signal(SIGCHLD, SIG_DFL);
  pid_t pid = ch[0] < 0 || ch[1] < 0 || (ttys & 4 && (err[0] < 0 || err[1] < 0)) ? -1 : fork();
  if (pid == 0)
    exec_helper(hargv, envp, ch[1], err[1]);
  close_all((int[]){ch[1], err[1]}, 2);
  if (pid < 0) {
    close_all((int[]){ch[0], err[0]}, 2);
    return;
  }
  place_fd(ch[0], CHANNEL_FD);
  if (err[0] >= 0)
    place_fd(err[0], HELPER_ERR_FD);
  if (agent >= 0)
    place_fd(agent, AGENT_FD);
  char pid_arg[24];
  xsnprintf(pid_arg, sizeof pid_arg, "%d", (int)pid);
  char *args[] = {pid_arg, "--agent"};
  exec_node(ATTACHED_SCRIPT, false, args, agent >= 0 ? 2 : 1, envp);
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
  char *cmd;
  enum invocation inv = invocation_of(argc, argv, &env, &cmd);
  int ttys = terminals();
  enum session_route route = choose_route(inv, terminals_kind(ttys), plain_record, helper_runnable);
  /* ssh -X: Node gives the display's cookie a name the container matches
   * (src/session/x11.ts) before anything starts there. */
  if (env_value(&env, "DISPLAY"))
    route = ROUTE_NODE;
  /* An agent to relay (ssh -A): sshd's socket, checked as Node's relay checks
   * it; a variable naming anything else is left out, as on the Node path. */
  const char *auth = env_value(&env, "SSH_AUTH_SOCK");
  if (route != ROUTE_NODE) {
    int agent = auth ? raise_fd(agent_host_socket(auth, getuid())) : -1;
    if (route == ROUTE_FAST) {
      int channel = agent >= 0 ? agent_relay_start(agent) : -1;
      /* The relay holds the agent; the helper sends it the session's socket. */
      if (channel >= 0)
        place_fd(channel, CHANNEL_FD);
      char *hargv[HELPER_ARGV_MAX];
      helper_argv(hargv, inv, NULL, channel >= 0, cmd);
      if (agent < 0 || channel >= 0)
        execve(HELPER, hargv, env.vars);
      /* not there or not ours to run, or no relay: the Node path says why or
       * relays (a relay waiting for the helper sees its channel close) */
      if (channel >= 0)
        close(CHANNEL_FD);
    } else {
      start_early(inv, cmd, ttys, agent, env.vars);
      if (agent >= 0)
        close(agent);
    }
  }
  /* argv[0] is passed on as data: a leading '-' means "login shell". */
  char *args[MAX_ARGS];
  int n = 0;
  args[n++] = argc > 0 && argv[0] ? argv[0] : "cellsh";
  for (int i = 1; i < argc; i++)
    args[n++] = argv[i];
  exec_node(LOGIN_SCRIPT, true, args, n, env.vars);
}
