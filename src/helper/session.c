#define _GNU_SOURCE
#include "session.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "inside.h"
#include "log.h"
#include "monitor.h"
#include "ns.h"
#include "privs.h"
#include "rootfs.h"
#include "seccomp.h"

#define LC_MAX 13 /* the locale categories glibc knows */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"

/* The program's environment, from scratch: identity and PATH from the policy,
 * session variables from the caller's allowlisted ones (SA-03). */
static void build_env(const struct session *s, struct kept_env *out) {
  const struct user_policy *u = s->user;
  memset(out, 0, sizeof *out);
  env_add(out, "HOME", u->home);
  env_add(out, "USER", u->name);
  env_add(out, "LOGNAME", u->name);
  env_add(out, "SHELL", u->shell);
  env_add(out, "PATH", DEFAULT_PATH);
  char runtime[32];
  xsnprintf(runtime, sizeof runtime, RUNTIME_DIR_FMT, (unsigned)u->uid);
  env_add(out, "XDG_RUNTIME_DIR", runtime);
  static const char *const pass[] = {"TERM", "COLORTERM", "LANG", "LANGUAGE",
                                     "SSH_CONNECTION", "SSH_CLIENT", "SSH_ORIGINAL_COMMAND", "DISPLAY"};
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

/* What an interactive login is to be told about its container's settings. */
static const char *settings_notice(const struct session *s) {
  if (s->restarted_for[0])
    return INSIDE_NOTICE_RESTARTED;
  if (!s->pending[0])
    return INSIDE_NOTICE_NONE;
  return s->user->restart == RESTART_MANUAL ? INSIDE_NOTICE_PENDING_MANUAL : INSIDE_NOTICE_PENDING;
}

const char *root_request(const struct request *req) {
  const char *c = req->verb == VERB_RUN ? req->command : NULL;
  if (!c || strncmp(c, "root", 4) || (c[4] && c[4] != ' ' && c[4] != '\t'))
    return NULL;
  for (c += 4; *c == ' ' || *c == '\t';)
    c++;
  return c;
}

/* In the child: enter every namespace of the pinned init, become the user (or
 * root inside), confine, and exec cellsh-inside (inside.c), which does what is
 * left as them. */
static NORETURN void enter_and_exec(const struct session *given, struct cg_entry *entry, int report) {
  /* A root session is the user's in all but its identity inside: root's name
   * and home, its shell as a login shell or with the command after "root". */
  struct user_policy as_root = *given->user;
  struct session root_session = *given;
  const struct session *s = given;
  if (given->root_command) {
    xsnprintf(as_root.name, sizeof as_root.name, "root");
    xsnprintf(as_root.home, sizeof as_root.home, "/root");
    root_session.user = &as_root;
    s = &root_session;
  }
  const struct user_policy *u = s->user;
  if (setsid() < 0) /* no controlling terminal from outside, ever (SA-31) */
    die_errno(EXIT_INTERNAL, "can't start a new session");
  cg_enter(entry);
  if (setns(s->init_pidfd, CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP) < 0)
    die_errno(EXIT_INTERNAL, "can't enter your container");
  close(s->join_lock); /* inside: the container counts this process now */
  if (!s->root_command)
    set_groups(u); /* before the user namespace, where setgroups(2) is denied */
  set_rlimits(u);  /* and raising a hard limit needs root in the host's */
  if (setns(s->init_pidfd, CLONE_NEWUSER) < 0)
    die_errno(EXIT_INTERNAL, "can't enter your container's user namespace");
  /* Once this process is the user's, the container's processes can see it,
   * and they and the user's host processes may prlimit(2) or signal it
   * (prlimit needs only matching ids): nothing of root's may cross the drop.
   * The log, the init's pidfd, the session slot and every other fd the helper
   * opened as root are closed first; only the caller's own channel, stderr,
   * the report pipe to the monitor and the O_PATH fd on cellsh-inside stay. */
  die_report_to(report); /* the monitor logs the child's last words: the child closes the log */
  log_close();
  int keep[] = {s->channel, report, say_handle(), s->inside};
  close_all_but(keep, sizeof keep / sizeof *keep);
  if (s->root_command)
    become_root_inside();
  else
    drop_privileges(u->uid, u->gid, u->n_groups);
  say_reset(); /* a write that blocks now blocks only the user's own process */
  fresh_session_keyring();
  umask(s->umask);
  struct kept_env env;
  build_env(s, &env);
  if ((!s->workdir || chdir(s->workdir) < 0) && chdir(u->home) < 0 && chdir("/") < 0)
    die_errno(EXIT_INTERNAL, "can't change to your home");
  bool root_login = s->root_command && !s->root_command[0];
  bool with_c = s->req->verb == VERB_RUN && !root_login;
  const char *command = s->root_command ? s->root_command : s->req->command;
  char arg0[PATH_MAX_LEN + 2];
  xsnprintf(arg0, sizeof arg0, "%s%s", s->req->verb == VERB_LOGIN || root_login ? "-" : "", strrchr(u->shell, '/') + 1);
  /* The program's argv, after cellsh-inside's own arguments when it runs first
   * (session_needs_inside). */
  char pty[32] = "-", channel[16] = "-", report_arg[16], started[24];
  const char *notice = settings_notice(s);
  if (s->req->pty_mask)
    xsnprintf(pty, sizeof pty, "%u:%ux%u", s->req->pty_mask, s->req->rows, s->req->cols);
  if (s->channel >= 0)
    xsnprintf(channel, sizeof channel, "%d", s->channel);
  xsnprintf(report_arg, sizeof report_arg, "%d", report);
  xsnprintf(started, sizeof started, "%" PRIu64, s->started_ms);
  char *argv[INSIDE_PROGRAM + 5] = {
      [0] = INSIDE_SESSION_NAME,
      [INSIDE_PTY] = pty,
      [INSIDE_AGENT] = s->req->agent ? "agent" : "-",
      [INSIDE_CHANNEL] = channel,
      [INSIDE_REPORT] = s->inside_reports ? report_arg : "-",
      [INSIDE_SESSION] = (char *)(uintptr_t)s->id,
      [INSIDE_CONTAINER] = (char *)(uintptr_t)s->container->id,
      [INSIDE_CREATED] = s->created ? STARTED_CREATED : STARTED_JOINED,
      [INSIDE_STARTED_MS] = started,
      [INSIDE_NOTICE] = (char *)(uintptr_t)(s->req->verb == VERB_LOGIN ? notice : INSIDE_NOTICE_NONE),
      [INSIDE_SETTINGS] = (char *)(uintptr_t)(s->restarted_for[0] ? s->restarted_for : s->pending),
      [INSIDE_USER] = (char *)(uintptr_t)u->name,
      [INSIDE_PROGRAM] = (char *)(uintptr_t)u->shell,
      [INSIDE_PROGRAM + 1] = arg0,
      [INSIDE_PROGRAM + 2] = with_c ? "-c" : NULL,
      [INSIDE_PROGRAM + 3] = with_c ? (char *)(uintptr_t)command : NULL,
  };
  /* The caller's own limits last: a small address space must not fail an
   * allocation of this process's on the way. */
  caller_restore(&s->limits);
  seccomp_confine(u->seccomp, u->nested_userns); /* last: the filter may refuse what came before */
  if (s->inside < 0) {
    /* Nothing but stdio crosses into the user's program (SA-05); the report
     * pipe is close-on-exec, and says why if the exec fails. */
    close_all_but(&report, 1);
    execve(u->shell, argv + INSIDE_PROGRAM + 1, env.vars);
    die_errno(127, "can't run your shell \"%s\" in the container", u->shell);
  }
  if ((s->channel >= 0 && fcntl(s->channel, F_SETFD, 0) < 0) || (s->inside_reports && fcntl(report, F_SETFD, 0) < 0))
    die_errno(EXIT_INTERNAL, "can't prepare your session");
  syscall(SYS_execveat, s->inside, "", argv, env.vars, AT_EMPTY_PATH);
  die_errno(EXIT_INTERNAL, "can't start cellsh-inside in your container; ask your administrator to run \"cellsh-admin doctor\"");
}

bool session_needs_inside(const struct session *s) {
  return s->channel >= 0 || (s->req->verb == VERB_LOGIN && strcmp(settings_notice(s), INSIDE_NOTICE_NONE));
}

void log_session_fields(struct log_fields *f, const struct session *s, bool container) {
  log_str(f, "user", s->user->name);
  log_num(f, "uid", s->user->uid);
  log_str(f, "session", s->id);
  if (container)
    log_str(f, "container", s->container->id);
}

void restart_needed(const char *user, const char *what) {
  die(EXIT_REFUSED, "your running container can't take a policy change live (%s) and must be restarted first: "
                    "run \"kill 1\" in a session of yours, or ask your administrator to run \"cellsh-admin restart %s\" "
                    "(either ends every process in it)",
      what, user);
}

void session_run(const struct session *s) {
  struct cg_entry entry = s->entry;
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
  if (s->inside >= 0)
    close(s->inside);
  for (int i = 0; i < entry.n; i++)
    close(entry.fds[i]);
  monitor(s, child, report[0]);
}
