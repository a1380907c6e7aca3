#define _GNU_SOURCE
#include "session.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "monitor.h"
#include "ns.h"
#include "privs.h"
#include "rootfs.h"
#include "seccomp.h"

#define DEVPTS_SUPER_MAGIC 0x1cd1
#define LC_MAX 13 /* the locale categories glibc knows */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"

/* The inner terminal, allocated in the container's own devpts by the confined
 * child (SA-31): check it is that devpts, unlock it, take the peer by fd
 * (TIOCGPTPEER, no path lookup) and make it the controlling terminal. */
static int open_inner_pty(const struct request *req, int *slave, char *name, size_t namelen) {
  int master = RETRY(open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
  struct statfs fs;
  int unlock = 0, index = -1;
  if (master < 0 || fstatfs(master, &fs) < 0 || fs.f_type != DEVPTS_SUPER_MAGIC ||
      ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &index) < 0)
    die_errno(EXIT_INTERNAL, "can't open a terminal in the container");
  *slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  struct winsize ws = {.ws_row = req->rows, .ws_col = req->cols};
  if (*slave < 0 || ioctl(*slave, TIOCSWINSZ, &ws) < 0 || ioctl(*slave, TIOCSCTTY, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't set up the container's terminal");
  xsnprintf(name, namelen, "/dev/pts/%d", index);
  return master;
}

#define MAX_SENT_FDS 4

/* Send one text message, with up to MAX_SENT_FDS fds, over the channel. */
static void send_message(int channel, char *text, const int *fds, size_t n_fds) {
  char control[CMSG_SPACE(MAX_SENT_FDS * sizeof(int))] = {0};
  struct iovec iov = {.iov_base = text, .iov_len = strlen(text)};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (n_fds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    /* NULL only when msg_controllen can't hold a header (cmsg(3)), which the
     * sizes above rule out; and n_fds past MAX_SENT_FDS would overrun control. */
    if (!c || n_fds > MAX_SENT_FDS)
      die(EXIT_INTERNAL, "can't pass %zu fds to cellsh", n_fds);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, n_fds * sizeof(int));
  }
  if (RETRY(sendmsg(channel, &msg, MSG_NOSIGNAL)) < 0)
    die_errno(EXIT_INTERNAL, "can't reach cellsh over its channel");
}

/* The session's SSH agent socket inside the container, made by the confined
 * child as the user in the user's own folder; the caller relays what connects
 * to it to the agent sshd made on the host. No host folder is bound in (SA-16). */
static void open_agent(const struct session *s, int *listener, int *dir, char *name, size_t namelen) {
  char tmp[64];
  xsnprintf(name, namelen, "%" PRIu64 "-%s" AGENT_SOCKET_SUFFIX, s->started_ms, s->id);
  xsnprintf(tmp, sizeof tmp, ".current.%s", s->id);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  xsnprintf(addr.sun_path, sizeof addr.sun_path, AGENTS_DIR "/%s", name);
  *listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  *dir = RETRY(open(AGENTS_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (*listener < 0 || *dir < 0 || bind(*listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(*listener, 16) < 0)
    die_errno(EXIT_INTERNAL, "can't make the agent socket \"%s\" in your container", addr.sun_path);
  /* The newest session's socket is the current one, before the program starts
   * (the caller hands it on when this session ends). */
  unlinkat(*dir, tmp, 0);
  if (symlinkat(name, *dir, tmp) < 0 || renameat(*dir, tmp, *dir, "current") < 0)
    die_errno(EXIT_INTERNAL, "can't point %s at this session's agent", AGENT_SOCK);
}

/* The program's environment, from scratch: identity and PATH from the policy,
 * session variables from the caller's allowlisted ones (SA-03). */
static void build_env(const struct session *s, const char *tty, struct kept_env *out) {
  const struct user_policy *u = s->user;
  memset(out, 0, sizeof *out);
  env_add(out, "HOME", u->home);
  env_add(out, "USER", u->name);
  env_add(out, "LOGNAME", u->name);
  env_add(out, "SHELL", u->shell);
  env_add(out, "PATH", DEFAULT_PATH);
  static const char *const pass[] = {"TERM", "COLORTERM", "LANG", "LANGUAGE", "SSH_CONNECTION", "SSH_CLIENT",
                                     "SSH_ORIGINAL_COMMAND"};
  for (size_t i = 0; i < sizeof pass / sizeof *pass; i++)
    if (env_value(s->env, pass[i]))
      env_add(out, pass[i], env_value(s->env, pass[i]));
  size_t n_lc = 0;
  for (size_t i = 0; i < s->env->n; i++)
    if (!strncmp(s->env->vars[i], "LC_", 3) && n_lc++ < LC_MAX) {
      const char *eq = strchr(s->env->vars[i], '=');
      char name[32];
      xsnprintf(name, sizeof name, "%.*s", (int)(eq - s->env->vars[i]), s->env->vars[i]);
      env_add(out, name, eq + 1); /* a copy: env_set below may replace it */
    }
  /* The policy's variables (the admin's, with the user's own on top); PATH
   * among them replaces the default. Names cellsh sets are never among them. */
  for (unsigned i = 0; i < u->n_env; i++)
    if (env_set(out, u->env[i].name, u->env[i].value) < 0)
      die(EXIT_INTERNAL, "too many environment variables for the session");
  if (tty && env_value(s->env, "SSH_CONNECTION"))
    env_add(out, "SSH_TTY", tty);
  if (s->req->agent)
    env_add(out, "SSH_AUTH_SOCK", AGENT_SOCK);
}

/* The policy's per-process limits, before the program starts. Raising a hard
 * limit needs CAP_SYS_RESOURCE, which some hosts take out of root's bounding
 * set: there the login's own hard limit is the ceiling (never above the
 * policy's; cellsh-admin doctor reports it). */
static void set_rlimits(const struct user_policy *u) {
  /* Real-time scheduling is never the login's to pass on: CFS bandwidth (the
   * cpu limit) does not throttle SCHED_FIFO/RR tasks, and a raised nice
   * ceiling would let the user outrank other users' containers. */
  static const int never[] = {RLIMIT_RTPRIO, RLIMIT_RTTIME, RLIMIT_NICE};
  for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
    struct rlimit zero = {0, 0};
    if (setrlimit(never[i], &zero) < 0)
      die_errno(EXIT_INTERNAL, "can't clear the real-time and nice limits");
  }
  for (int i = 0; i < RL_COUNT; i++) {
    struct rlimit want = u->rlimits[i], have;
    if (setrlimit(rlimit_resource[i], &want) == 0)
      continue;
    if (errno == EPERM && getrlimit(rlimit_resource[i], &have) == 0) {
      want.rlim_max = want.rlim_max < have.rlim_max ? want.rlim_max : have.rlim_max;
      want.rlim_cur = want.rlim_cur < want.rlim_max ? want.rlim_cur : want.rlim_max;
      if (setrlimit(rlimit_resource[i], &want) == 0)
        continue;
    }
    die_errno(EXIT_REFUSED, "can't apply the %s limit (%llu %llu); ask your administrator to run \"cellsh-admin doctor\"",
              rlimit_key[i], (unsigned long long)u->rlimits[i].rlim_cur, (unsigned long long)u->rlimits[i].rlim_max);
  }
}

/* The child's last words go to the monitor, which logs them: the child closed
 * the log before it became the user (see below). */
static int report_fd = -1;
static void report_to_monitor(int code, const char *msg) {
  char line[600];
  int n = snprintf(line, sizeof line, "%d %s", code, msg);
  if (n > 0)
    (void)write_all(report_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* In the child: enter every namespace of the pinned init, become the user,
 * set up stdio and exec the shell. */
static NORETURN void enter_and_exec(const struct session *s, struct cg_entry *entry, int report) {
  const struct user_policy *u = s->user;
  if (setsid() < 0) /* no controlling terminal from outside, ever (SA-31) */
    die_errno(EXIT_INTERNAL, "can't start a new session");
  cg_enter(entry);
  if (setns(s->init_pidfd, CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP) < 0)
    die_errno(EXIT_INTERNAL, "can't enter your container");
  close(s->join_lock); /* inside: the container counts this process now */
  set_groups(u);       /* before the user namespace, where setgroups(2) is denied */
  set_rlimits(u);      /* and raising a hard limit needs root in the host's */
  if (setns(s->init_pidfd, CLONE_NEWUSER) < 0)
    die_errno(EXIT_INTERNAL, "can't enter your container's user namespace");
  /* Once this process is the user's, the container's processes can see it,
   * and they and the user's host processes may prlimit(2) or signal it
   * (prlimit needs only matching ids): nothing of root's may cross the drop.
   * The log, the init's pidfd, the session slot and every other fd the helper
   * opened as root are closed first; only the caller's own channel, stderr
   * and the report pipe to the monitor stay. */
  report_fd = report;
  die_hook = report_to_monitor;
  log_close();
  int keep[] = {s->channel, report, say_handle()};
  close_all_but(keep, sizeof keep / sizeof *keep);
  drop_privileges(u->uid, u->gid, u->n_groups);
  say_reset(); /* a write that blocks now blocks only the user's own process */
  fresh_session_keyring();
  umask(s->umask);
  char tty[32] = "";
  int fds[MAX_SENT_FDS];
  size_t n_fds = 0;
  /* The program's own pidfd, so cellsh passes signals to it directly: the
   * monitor stays root and the user can't signal that. */
  if (s->channel >= 0 && (fds[n_fds++] = (int)pidfd_open(getpid(), 0)) < 0)
    die_errno(EXIT_INTERNAL, "can't make a pidfd for your session");
  if (s->req->pty_mask) {
    int slave;
    fds[n_fds++] = open_inner_pty(s->req, &slave, tty, sizeof tty);
    for (int fd = 0; fd < 3; fd++)
      if ((s->req->pty_mask & (1u << fd)) && dup2(slave, fd) < 0)
        die_errno(EXIT_INTERNAL, "can't attach the terminal");
    close(slave);
  }
  struct kept_env env;
  build_env(s, tty[0] ? tty : NULL, &env);
  if (chdir(u->home) < 0 && chdir("/") < 0)
    die_errno(EXIT_INTERNAL, "can't change to your home");
  char agent[64] = "";
  if (s->req->agent) {
    open_agent(s, &fds[n_fds], &fds[n_fds + 1], agent, sizeof agent);
    n_fds += 2;
  }
  if (s->channel >= 0) {
    char msg[160];
    xsnprintf(msg, sizeof msg, STARTED_WORD " %s %s %s%s%s", s->id, s->container->id, s->created ? STARTED_CREATED : STARTED_JOINED,
              agent[0] ? " " : "", agent);
    send_message(s->channel, msg, fds, n_fds);
  }
  /* The caller's own limits last: a small address space must not fail an
   * allocation of this process's on the way. */
  caller_restore(&s->limits);
  seccomp_confine(u->seccomp, u->nested_userns); /* last: the filter may refuse what came before */
  /* Nothing but stdio crosses into the user's program (SA-05); the report
   * pipe is close-on-exec, and says why if the exec fails. */
  close_all_but(&report_fd, 1);
  const char *base = strrchr(u->shell, '/') + 1;
  char arg0[PATH_MAX_LEN + 2];
  xsnprintf(arg0, sizeof arg0, "%s%s", s->req->verb == VERB_LOGIN ? "-" : "", base);
  char *argv[4] = {arg0, NULL, NULL, NULL};
  if (s->req->verb == VERB_RUN) {
    argv[1] = "-c";
    argv[2] = s->req->command;
  }
  execve(u->shell, argv, env.vars);
  die_errno(127, "can't run your shell \"%s\" in the container", u->shell);
}

void restart_needed(const char *user, const char *what) {
  die(EXIT_REFUSED, "your running container can't take a policy change live (%s) and must be restarted first: "
                    "run \"kill 1\" in a session of yours, or ask your administrator to run \"cellsh-admin restart %s\" "
                    "(either ends every process in it)",
      what, user);
}

/* What an interactive login hears about a policy change (commands stay quiet:
 * their stderr is a script's). */
static void tell_policy_change(const struct session *s) {
  if (s->req->verb != VERB_LOGIN)
    return;
  if (s->restarted_for[0])
    say("cellsh: your container was restarted to apply changed settings (%s).%s", s->restarted_for, tell_nl(s));
  else if (s->pending[0] && s->user->restart == RESTART_MANUAL)
    say("cellsh: your container's settings changed (%s); they apply when it restarts: run \"kill 1\" "
        "(ends every process in it) or ask your administrator (\"cellsh-admin restart %s\").%s",
        s->pending, s->user->name, tell_nl(s));
  else if (s->pending[0])
    say("cellsh: your container's settings changed (%s); they apply when it restarts, at your first "
        "login once nothing of yours runs in it (or now: \"kill 1\" ends every process in it).%s",
        s->pending, tell_nl(s));
}

void session_run(const struct session *s) {
  struct cg_entry entry = s->entry;
  tell_policy_change(s);
  /* setns(CLONE_NEWPID) places only our children in the container's pid
   * namespace; this process stays outside and waits. */
  if (setns(s->init_pidfd, CLONE_NEWPID) < 0)
    die_errno(EXIT_INTERNAL, "can't enter your container (it may have just stopped; try again)");
  int report[2];
  if (pipe2(report, O_CLOEXEC | O_NONBLOCK) < 0)
    die_errno(EXIT_INTERNAL, "can't create a pipe");
  pid_t child = fork();
  if (child < 0)
    die_errno(EXIT_INTERNAL, "can't start your session");
  if (child == 0) {
    close(report[0]);
    enter_and_exec(s, &entry, report[1]);
  }
  close(report[1]);
  close(s->join_lock);
  for (int i = 0; i < entry.n; i++)
    close(entry.fds[i]);
  monitor(s, child, report[0]);
}
