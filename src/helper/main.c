/* cellsh-helper: setuid root, the only privileged code in cellsh. It creates or
 * joins the caller's own container and runs the caller's shell inside with no
 * privilege left. It trusts nobody who calls it: identity comes from the real
 * uid, every setting from the root-owned compiled policy, and the caller's
 * argv, environment, fds and cwd are checked or dropped before anything else.
 *
 * Phases: entry hygiene -> parse argv -> verify (policy, caller) -> lock and
 * decide (join or create) -> session (see session.c). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "args.h"
#include "cgroup.h"
#include "drift.h"
#include "env.h"
#include "log.h"
#include "ns.h"
#include "policy.h"
#include "session.h"
#include "state.h"
#include "util.h"

#define STOP_WAIT_MS 5000
#define STOP_LOCK_WAIT_S 5 /* then stop anyway: killing through the pinned pidfd needs no lock */
#define MIN_NOFILE 64
#define LOCK_WAIT_S 60

extern char **environ;

static uid_t caller_uid;
static const char *caller_name;

/* fds 0-2 must be open, or a file opened later would land on them and receive
 * what is meant for stderr (SA-05); everything above the channel goes. */
static void sanitize_fds(void) {
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && RETRY(open("/dev/null", O_RDWR)) != fd)
      _exit(EXIT_INTERNAL);
  close_range(CHANNEL_FD + 1, ~0U, 0);
}

/* The caller's limits, restored for the user's program (session.c). */
static struct caller_limits limits;

/* Refuse to run from an environment that already lost privilege (no_new_privs,
 * i.e. inside a container) and set up a clean privileged state (SA-07): no
 * core dumps, not dumpable, default signal dispositions, nothing blocked, and
 * no caller rlimit that could cut a root write short (RLIMIT_FSIZE would
 * truncate an audit line mid-way) or starve it (RLIMIT_NOFILE). */
static void check_entry(void) {
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
    die(EXIT_REFUSED, "no_new_privs is set: cellsh can't start a container from inside one");
  if (geteuid() != 0)
    die(EXIT_CONFIG, "cellsh-helper is not installed setuid root; ask your administrator to run install.sh");
  /* Files the helper creates belong to root:root, not to the caller's group. */
  if (setegid(0) < 0)
    die_errno(EXIT_INTERNAL, "can't set the effective gid");
  struct rlimit nofile, core, unlimited = {RLIM_INFINITY, RLIM_INFINITY};
  if (getrlimit(RLIMIT_FSIZE, &limits.fsize) < 0 || getrlimit(RLIMIT_CORE, &core) < 0 ||
      getrlimit(RLIMIT_NOFILE, &nofile) < 0)
    die_errno(EXIT_INTERNAL, "can't read the resource limits");
  if (nofile.rlim_cur < MIN_NOFILE)
    die(EXIT_USAGE, "the open-files limit (ulimit -n %llu) is below the %d cellsh needs", (unsigned long long)nofile.rlim_cur, MIN_NOFILE);
  /* Raising a hard limit needs CAP_SYS_RESOURCE, which a host may have taken
   * out of root's bounding set; a soft limit can always go up to the hard one.
   * If neither gets the file-size limit to unlimited, refuse. */
  if (setrlimit(RLIMIT_FSIZE, &unlimited) < 0 &&
      (limits.fsize.rlim_max != RLIM_INFINITY || setrlimit(RLIMIT_FSIZE, &unlimited) < 0))
    die(EXIT_USAGE, "the file-size limit (ulimit -Hf %llu) is below what cellsh needs", (unsigned long long)limits.fsize.rlim_max);
  struct rlimit no_core = {0, core.rlim_max};
  if (setrlimit(RLIMIT_CORE, &no_core) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't secure the helper process");
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      signal(sig, SIG_DFL);
  sigset_t none_blocked;
  sigemptyset(&none_blocked);
  sigprocmask(SIG_SETMASK, &none_blocked, NULL);
}

/* Keep the caller's uid as data and drop it as the real uid: a process whose
 * real uid is the caller's can be stopped, killed or reniced by the caller at
 * any instruction, and so could the root children forked from it (SA-07,
 * SA-25). The monitor and every child become the user again explicitly. */
static uid_t take_identity(void) {
  uid_t uid = getuid();
  if (setresuid(0, 0, 0) < 0 || getuid() != 0)
    die_errno(EXIT_INTERNAL, "can't take the real uid");
  return uid;
}

/* fds 0-2 may only carry data into the container: pipes, sockets, regular
 * files and the harmless devices. An O_PATH or directory fd would be a handle
 * on the host's file system, a device another way out (SA-05). */
static void check_stdio(void) {
  for (int fd = 0; fd < 3; fd++) {
    struct stat st;
    int flags = fcntl(fd, F_GETFL);
    if (fstat(fd, &st) < 0 || flags < 0)
      die_errno(EXIT_USAGE, "can't inspect fd %d", fd);
    bool harmless_dev = S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
                        (minor(st.st_rdev) == 3 || minor(st.st_rdev) == 5 || minor(st.st_rdev) == 7 ||
                         minor(st.st_rdev) == 8 || minor(st.st_rdev) == 9);
    if ((flags & O_PATH) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode) || (S_ISCHR(st.st_mode) && !harmless_dev))
      die(EXIT_USAGE, "refusing fd %d: only pipes, sockets, files and /dev/null may be passed into the container", fd);
  }
}

/* The container never gets a terminal from outside; cellsh passes /dev/null or
 * pipes in their place and relays the terminal itself (SA-31). */
static void refuse_terminals(void) {
  for (int fd = 0; fd < 3; fd++)
    if (isatty(fd))
      die(EXIT_USAGE, "refusing to run with a terminal on fd %d: it would reach into the container; "
          "log in through cellsh, which relays the terminal", fd);
}

/* fd 3, when present, must be an AF_UNIX SOCK_SEQPACKET socket whose peer is
 * the caller; anything else is closed (or refused when a pty is asked for). */
static int take_channel(bool required, uid_t uid) {
  struct stat st;
  int type = 0, domain = 0;
  struct ucred cred = {0};
  socklen_t l1 = sizeof type, l2 = sizeof domain, l3 = sizeof cred;
  bool ok = fstat(CHANNEL_FD, &st) == 0 && S_ISSOCK(st.st_mode) &&
            getsockopt(CHANNEL_FD, SOL_SOCKET, SO_TYPE, &type, &l1) == 0 && type == SOCK_SEQPACKET &&
            getsockopt(CHANNEL_FD, SOL_SOCKET, SO_DOMAIN, &domain, &l2) == 0 && domain == AF_UNIX &&
            getsockopt(CHANNEL_FD, SOL_SOCKET, SO_PEERCRED, &cred, &l3) == 0 && cred.uid == uid &&
            fcntl(CHANNEL_FD, F_SETFD, FD_CLOEXEC) == 0;
  if (ok)
    return CHANNEL_FD;
  close(CHANNEL_FD);
  if (required)
    die(EXIT_USAGE, "--pty and --agent need fd %d to be cellsh's channel (an AF_UNIX SOCK_SEQPACKET socket)", CHANNEL_FD);
  return -1;
}

/* Record refusals and failures in the audit log before exiting. */
static void log_failure(int code, const char *msg) {
  struct log_fields f = {0};
  log_num(&f, "uid", caller_uid);
  if (caller_name)
    log_str(&f, "user", caller_name);
  log_num(&f, "code", code);
  log_str(&f, "reason", msg);
  log_event(code == EXIT_REFUSED || code == EXIT_CONFIG || code == EXIT_USAGE ? "denied" : "error", &f);
}

/* End a container: the notice (if any) in place for its sessions first, then
 * SIGKILL to its init through the pinned pidfd (pid 1's death takes the whole
 * pid namespace with it, pid_namespaces(7)), then its cgroup and records. */
static void end_container(int dir, uid_t uid, const char *id, int pidfd, const char *notice) {
  if (pidfd >= 0 && notice)
    notice_write(dir, uid, id, notice);
  if (pidfd >= 0 && pidfd_send_signal(pidfd, SIGKILL, NULL, 0) == 0) {
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    RETRY(poll(&p, 1, STOP_WAIT_MS));
  }
  cg_detect()->destroy(uid);
  state_remove(dir, uid);
  notice_remove(dir, uid); /* the sessions read it through the fds they hold */
}

static NORETURN void do_stop(const struct request *req, uid_t caller) {
  uid_t target = caller;
  log_open();
  die_hook = log_failure;
  if ((req->has_stop_uid || req->notice) && caller != 0)
    die(EXIT_REFUSED, "only root may stop another user's container");
  if (req->has_stop_uid)
    target = req->stop_uid;
  else if (caller == 0)
    die(EXIT_USAGE, "root must name the uid: cellsh-helper stop UID");
  cleanup_fd int dir = state_dir();
  /* A login wedged while holding the lock must not keep root from stopping
   * the container: after a short wait, go on without it. */
  cleanup_fd int lock = state_lock(dir, target, caller == 0 ? STOP_LOCK_WAIT_S : LOCK_WAIT_S);
  if (lock < 0 && caller != 0)
    die(EXIT_INTERNAL, "timed out after %d s waiting for a login to finish; try again", LOCK_WAIT_S);
  struct container_record rec;
  bool had = state_read(dir, target, &rec);
  cleanup_fd int pidfd = had ? state_pin(&rec) : -1;
  end_container(dir, target, pidfd >= 0 ? rec.id : NULL, pidfd, req->notice);
  if (had) {
    struct log_fields f = {0};
    log_num(&f, "uid", target);
    log_str(&f, "container", rec.id);
    log_num(&f, "by_uid", caller);
    log_event("container-stop", &f);
  }
  _exit(0);
}

/* The caller's record in the applied policy, with their own settings on top. */
static void load_settings(const struct request *req, struct user_policy *user) {
  char err[256];
  policy_load(caller_uid, user);
  for (unsigned i = 0; i < req->n_sets; i++)
    if (!policy_override(user, req->sets[i], err, sizeof err))
      die(EXIT_USAGE, "%s", err);
}

static void log_login(const struct session *s) {
  struct log_fields f = {0};
  log_str(&f, "user", s->user->name);
  log_num(&f, "uid", s->user->uid);
  log_str(&f, "session", s->id);
  log_str(&f, "mode", s->req->verb == VERB_LOGIN ? "login" : "command");
  log_bool(&f, "tty", s->req->pty_mask != 0);
  if (s->req->command)
    log_str(&f, "command", s->req->command);
  if (s->req->n_sets) { /* the keys the user set for themselves */
    char keys[256] = "";
    for (unsigned i = 0; i < s->req->n_sets; i++)
      snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s%.*s", i ? " " : "",
               (int)strcspn(s->req->sets[i], "="), s->req->sets[i]);
    log_str(&f, "user_settings", keys);
  }
  if (env_value(s->env, "SSH_CONNECTION"))
    log_str(&f, "ssh_connection", env_value(s->env, "SSH_CONNECTION"));
  log_event("login", &f);
}

static void log_start(const struct session *s) {
  struct log_fields f = {0};
  log_str(&f, "user", s->user->name);
  log_num(&f, "uid", s->user->uid);
  log_str(&f, "session", s->id);
  log_str(&f, "container", s->container->id);
  log_num(&f, "init_pid", s->container->init_pid);
  log_event("container-start", &f);
}

static void log_policy(const struct session *s, const char *event, const char *what, const char *detail) {
  struct log_fields f = {0};
  log_str(&f, "user", s->user->name);
  log_num(&f, "uid", s->user->uid);
  log_str(&f, "session", s->id);
  log_str(&f, "container", s->container->id);
  log_str(&f, what, detail);
  log_event(event, &f);
}

/* A join: bring the running container in line with the policy as far as it
 * can be live, then join it as it is, or end it for a restart (drift.h).
 * Leaves s->init_pidfd at -1 when the container was ended. */
static void bring_in_line(struct session *s, int dir, struct container_record *rec, struct user_policy *u,
                          char *pending, char *restarted_for, size_t len) {
  drift_fields(rec, u, pending, len);
  uint64_t want = limits_hash(&u->limits);
  struct cg_fail fail = {0};
  bool limits_live = want == rec->limits_hash || s->cg->update(u->uid, &u->limits, &fail);
  if (limits_live && want != rec->limits_hash)
    log_policy(s, "limits-update", "reason", "the policy's limits changed");
  /* Verified like every join: never run with less than the policy says. */
  bool enforced = limits_live && s->cg->open_entry(u->uid, &u->limits, &s->entry) == 0;
  if (!enforced)
    drift_list_add(pending, len, "resource limits");
  if (pending[0]) {
    /* The old container would keep access the change takes away: restart now,
     * whatever the policy's timing. Otherwise: login, or idle when nothing of
     * the user's runs in it and no other login is on its way in. */
    int procs = s->cg->procs(u->uid);
    bool restart_now = drift_takes_access(rec, u) || u->restart == RESTART_LOGIN ||
                       (u->restart == RESTART_IDLE && procs >= 0 && procs <= 1 && join_idle(dir, u->uid));
    if (restart_now) {
      if (enforced)
        for (int i = 0; i < s->entry.n; i++)
          close(s->entry.fds[i]);
      char notice[NOTICE_MAX + 1];
      xsnprintf(notice, sizeof notice, "your container was restarted by a new login to apply changed settings (%s)", pending);
      log_policy(s, "container-restart", "reason", pending);
      end_container(dir, u->uid, rec->id, s->init_pidfd, notice);
      close(s->init_pidfd);
      s->init_pidfd = -1;
      strcpy(restarted_for, pending);
      pending[0] = '\0';
      return;
    }
    if (!enforced)
      restart_needed(u->name, fail.failed ? fail.why : "its resource limits");
    log_policy(s, "restart-pending", "pending", pending);
    drift_adopt(rec, u);
  }
  /* Remember what it holds now, for ps and the next login. */
  if (rec->limits_hash != want || rec->policy_hash != u->record_hash || strcmp(rec->pending, pending)) {
    rec->limits_hash = want;
    rec->policy_hash = u->record_hash;
    xsnprintf(rec->pending, sizeof rec->pending, "%s", pending);
    state_write(dir, rec);
  }
}

int main(int argc, char **argv) {
  helper_argv = argv;
  sanitize_fds();
  struct kept_env env;
  env_keep(environ, &env);
  clearenv(); /* never read again (SA-03) */
  struct request req;
  char err[256];
  if (!parse_args(argc, argv, &req, err, sizeof err))
    die(EXIT_USAGE, "%s", err);
  check_entry();
  caller_uid = take_identity();
  if (req.verb == VERB_STOP)
    do_stop(&req, caller_uid);
  if (caller_uid == 0)
    die(EXIT_REFUSED, "cellsh does not serve root");
  refuse_terminals();
  check_stdio();
  int channel = take_channel(req.pty_mask != 0 || req.agent, caller_uid);
  mode_t user_umask = umask(077);
  log_open();
  die_hook = log_failure;

  int dir = state_dir();
  int lock = state_lock(dir, caller_uid, LOCK_WAIT_S);
  if (lock < 0)
    die(EXIT_INTERNAL, "timed out after %d s waiting for another login to start your container; try again", LOCK_WAIT_S);
  /* Read under the lock: a login that waited must not write back the limits
   * of a policy an apply replaced meanwhile. */
  struct user_policy user;
  load_settings(&req, &user);
  caller_name = user.name;
  struct container_record rec;
  struct session s = {.req = &req, .user = &user, .env = &env, .container = &rec, .channel = channel,
                      .umask = user_umask, .limits = limits, .started_ms = now_ms(), .cg = cg_detect()};
  random_hex(s.id, 6);
  log_login(&s);
  s.init_pidfd = state_read(dir, caller_uid, &rec) ? state_pin(&rec) : -1;
  static char pending[96], restarted_for[96];
  s.pending = pending;
  s.restarted_for = restarted_for;
  if (s.init_pidfd >= 0)
    bring_in_line(&s, dir, &rec, &user, pending, restarted_for, sizeof pending);
  if (s.init_pidfd < 0) {
    /* None, stale (its init died, or its pid now names someone else: SA-23),
     * or just ended for a restart: clear what is left and start afresh. */
    s.cg->destroy(caller_uid);
    state_remove(dir, caller_uid);
    notice_remove(dir, caller_uid);
    int commit;
    s.init_pidfd = container_create(&user, s.cg, &rec, &commit);
    drift_record(&rec, &user);
    state_write(dir, &rec);
    container_commit(commit);
    s.created = true;
    log_start(&s);
    if (s.cg->open_entry(caller_uid, &user.limits, &s.entry) < 0)
      die(EXIT_INTERNAL, "can't enter the cgroup of the container just made");
  }
  /* Held until the session's process is inside (session.c), so an idle
   * restart never ends the container under a login on its way in. */
  s.join_lock = join_lock(dir, caller_uid);
  flock(lock, LOCK_UN);
  close(lock);
  close(dir);
  session_run(&s);
}
