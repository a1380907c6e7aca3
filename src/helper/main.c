/* cellsh-helper: setuid root, the only privileged code in cellsh. It creates or
 * joins the caller's own container and runs the caller's shell inside with no
 * privilege left. It trusts nobody who calls it: identity comes from the real
 * uid, every setting from the root-owned compiled policy, and the caller's
 * argv, environment, fds and cwd are checked or dropped before anything else.
 *
 * Phases: entry hygiene -> parse argv -> verify (policy, caller) -> lock and
 * decide (join or create) -> session (see session.c). */
#define _GNU_SOURCE
#include <dirent.h>
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
#include "budget.h"
#include "caller.h"
#include "cgroup.h"
#include "config.h"
#include "drift.h"
#include "image.h"
#include "env.h"
#include "log.h"
#include "nat.h"
#include "ns.h"
#include "policy.h"
#include "session.h"
#include "trust.h"
#include "state.h"
#include "util.h"

#define STOP_WAIT_MS 5000
#define STOP_LOCK_WAIT_S 5 /* then stop anyway: killing through the pinned pidfd needs no lock */
#define LOCK_WAIT_S 60

extern char **environ;

static uid_t caller_uid;
static const char *caller_name;

/* Record refusals and failures in the audit log before exiting. */
static void log_failure(int code, const char *msg) {
  struct log_fields f = {0};
  log_num(&f, "uid", caller_uid);
  if (caller_name)
    log_str(&f, "user", caller_name);
  log_num(&f, "code", code);
  log_str(&f, "reason", msg);
  log_event(code == EXIT_REFUSED || code == EXIT_CONFIG || code == EXIT_USAGE ? EVENT_DENIED : EVENT_ERROR, &f);
  budget_settle(false);
}

/* A login over the user's log budget is refused before it logs anything but,
 * once a minute, the refusal (budget.h). */
static void admit_to_log(int dir, uid_t uid) {
  enum budget_answer a = budget_admit(dir, uid);
  if (a == BUDGET_OK)
    return;
  if (a == BUDGET_OVER_QUIET)
    die_hook = NULL;
  die(EXIT_REFUSED, "you have started sessions faster than the audit log allows (about %d a second over time); "
                    "wait a few seconds and try again",
      BUDGET_RATE / 512);
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
  nat_remove(uid);
  cg_detect()->destroy(uid);
  state_remove(dir, uid);
  notice_remove(dir, uid); /* the sessions read it through the fds they hold */
}

static NORETURN void do_stop(const struct request *req, uid_t caller, int dir) {
  caller_uid = caller;
  log_open();
  die_hook = log_failure;
  uid_t target = req->has_stop_uid ? req->stop_uid : caller;
  if (caller == 0 && !req->has_stop_uid)
    die(EXIT_USAGE, "root must name the uid: cellsh-helper stop UID");
  /* A login wedged while holding the lock must not keep root from stopping
   * the container: after a short wait, go on without it. A user waits for
   * their own lock, and what they make the helper log is theirs to pay for
   * (budget.h), a refusal included. */
  cleanup_fd int lock = state_lock(dir, caller == 0 ? target : caller, caller == 0 ? STOP_LOCK_WAIT_S : LOCK_WAIT_S);
  if (lock < 0 && caller != 0)
    die(EXIT_INTERNAL, "timed out after %d s waiting for a login to finish; try again", LOCK_WAIT_S);
  if (caller != 0) {
    admit_to_log(dir, caller);
    if (req->has_stop_uid || req->notice)
      die(EXIT_REFUSED, "only root may stop another user's container");
  }
  struct container_record rec;
  bool had = state_read(dir, target, &rec);
  cleanup_fd int pidfd = had ? state_pin(&rec) : -1;
  end_container(dir, target, pidfd >= 0 ? rec.id : NULL, pidfd, req->notice);
  if (had) {
    struct log_fields f = {0};
    log_num(&f, "uid", target);
    log_str(&f, "container", rec.id);
    log_num(&f, "by_uid", caller);
    log_event(EVENT_CONTAINER_STOP, &f);
  }
  budget_settle(true);
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
  log_session_fields(&f, s, false);
  log_str(&f, "mode", s->req->verb == VERB_LOGIN ? "login" : s->req->verb == VERB_RUN ? "command"
                                                                                      : "forwarding");
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
  log_event(EVENT_LOGIN, &f);
}

static void log_start(const struct session *s) {
  struct log_fields f = {0};
  log_session_fields(&f, s, true);
  log_num(&f, "init_pid", s->container->init_pid);
  log_event(EVENT_CONTAINER_START, &f);
}

static void log_policy(const struct session *s, const char *event, const char *what, const char *detail) {
  struct log_fields f = {0};
  log_session_fields(&f, s, true);
  log_str(&f, what, detail);
  log_event(event, &f);
}

/* Does the container's cgroup hold exactly these limits, written when the host
 * swapped as it does now (a swap limit it could leave out may have to hold)? */
static bool limits_held(const struct container_record *rec, const struct cg_limits *l) {
  return rec->limits_known && rec->host_swapped == cg_host_has_swap() && !memcmp(&rec->limits, l, sizeof *l);
}

/* Note that the container's cgroup now holds these limits. */
static void hold_limits(struct container_record *rec, const struct cg_limits *l) {
  rec->limits = *l;
  rec->limits_known = true;
  rec->host_swapped = cg_host_has_swap();
}

/* A join: bring the running container in line with the policy as far as it
 * can be live, then join it as it is, or end it for a restart (drift.h).
 * Leaves s->init_pidfd at -1 when the container was ended. */
static void bring_in_line(struct session *s, int dir, struct container_record *rec, struct user_policy *u,
                          char *pending, char *restarted_for, size_t len) {
  drift_fields(rec, u, pending, len);
  bool limits_live = limits_held(rec, &u->limits);
  struct cg_fail fail = {0};
  if (!limits_live) {
    /* Unknown until every write took: an update cut short (a limit v1 refuses,
     * the helper killed) is never taken for done, even when the policy goes
     * back to what the record said before. */
    rec->limits_known = false;
    state_write(dir, rec);
    limits_live = s->cg->update(u->uid, &u->limits, &fail);
    if (limits_live)
      log_policy(s, EVENT_LIMITS_UPDATE, "reason", "the policy's limits changed");
  }
  bool enforced = limits_live && s->cg->open_entry(u->uid, &u->limits, &s->entry) == 0;
  if (!enforced)
    drift_list_add(pending, len, "resource limits");
  if (pending[0]) {
    /* The old container would keep access the change takes away: restart now,
     * whatever the policy's timing. Otherwise: login, or idle when nothing of
     * the user's runs in it and no other login is on its way in. */
    int procs = s->cg->procs(u->uid);
    int own = rec->network == NETWORK_PRIVATE ? 2 : 1; /* the init, and the NAT (nat.h) */
    bool restart_now = drift_takes_access(rec, u) || u->restart == RESTART_LOGIN ||
                       (u->restart == RESTART_IDLE && procs >= 0 && procs <= own && join_idle(dir, u->uid));
    if (restart_now) {
      if (enforced)
        for (int i = 0; i < s->entry.n; i++)
          close(s->entry.fds[i]);
      char notice[NOTICE_MAX + 1];
      xsnprintf(notice, sizeof notice, "your container was restarted by a new login to apply changed settings (%s)", pending);
      log_policy(s, EVENT_CONTAINER_RESTART, "reason", pending);
      end_container(dir, u->uid, rec->id, s->init_pidfd, notice);
      close(s->init_pidfd);
      s->init_pidfd = -1;
      strcpy(restarted_for, pending);
      pending[0] = '\0';
      return;
    }
    if (!enforced)
      restart_needed(u->name, fail.failed ? fail.why : "its resource limits");
    log_policy(s, EVENT_RESTART_PENDING, "pending", pending);
    drift_adopt(rec, u);
  }
  /* Remember what it holds now, for ps and the next login: a session with a
   * weaker filter than any before lowers what the container can be trusted with. */
  unsigned floor = seccomp_strength(u) < rec->seccomp_floor ? seccomp_strength(u) : rec->seccomp_floor;
  if (!limits_held(rec, &u->limits) || rec->policy_hash != u->record_hash || strcmp(rec->pending, pending) ||
      rec->seccomp_floor != floor) {
    rec->seccomp_floor = floor;
    hold_limits(rec, &u->limits);
    rec->policy_hash = u->record_hash;
    xsnprintf(rec->pending, sizeof rec->pending, "%s", pending);
    state_write(dir, rec);
  }
}

/* netns: no session; the container's network namespace goes to the PAM module
 * on the channel, opened while the pinned init is alive and checked to be the
 * one it was made with (state.h), so it is this container's and no other (SA-41). */
static NORETURN void send_netns(const struct session *s) {
  const struct container_record *rec = s->container;
  char msg[64], path[32];
  int fd = -1; /* the process ends here: no cleanup needed */
  struct stat st;
  if (rec->network != NETWORK_HOST) {
    xsnprintf(path, sizeof path, "/proc/%d/ns/net", (int)rec->init_pid);
    fd = RETRY(open(path, O_RDONLY | O_CLOEXEC));
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_ino != rec->ns[NS_NET] || pidfd_send_signal(s->init_pidfd, 0, NULL, 0) < 0)
      die(EXIT_INTERNAL, "your container stopped while its network was looked up; try again");
  }
  int n = snprintf(msg, sizeof msg, "%s %s", fd < 0 ? NETNS_HOST : NETNS_JOINED, rec->id);
  char control[CMSG_SPACE(sizeof(int))] = {0};
  struct iovec iov = {.iov_base = msg, .iov_len = (size_t)n};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
  if (fd >= 0) {
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (!c) /* cmsg(3): NULL only if the control can't hold a header */
      die(EXIT_INTERNAL, "can't hand your container's network to sshd");
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    *(int *)(void *)CMSG_DATA(c) = fd; /* CMSG_DATA is aligned for it */
  }
  if (RETRY(sendmsg(s->channel, &m, MSG_NOSIGNAL)) != n)
    die_errno(EXIT_INTERNAL, "can't hand your container's network to sshd");
  budget_settle(true);
  _exit(0);
}

/* A login or command, once the caller is checked and root holds the real
 * uid: lock, decide (join or create), run the session. A function of its own
 * (never inlined) so that its large frame is only touched after the caller's
 * stack limit was raised (caller_check_entry): main's stays small. */
static NORETURN __attribute__((noinline)) void login(const struct request *req, const struct kept_env *env,
                                                     const struct caller_limits *limits, int channel, int dir, int slot) {
  mode_t user_umask = umask(077);
  log_open();
  die_hook = log_failure;

  int lock = state_lock(dir, caller_uid, LOCK_WAIT_S);
  if (lock < 0)
    die(EXIT_INTERNAL, "timed out after %d s waiting for another login to start your container; try again", LOCK_WAIT_S);
  admit_to_log(dir, caller_uid);
  /* Read under the lock: a login that waited must not write back the limits
   * of a policy an apply replaced meanwhile. */
  struct user_policy user;
  load_settings(req, &user);
  caller_name = user.name;
  struct container_record rec;
  struct session s = {.req = req, .user = &user, .env = env, .container = &rec, .channel = channel, .slot = slot, .umask = user_umask, .limits = *limits, .started_ms = now_ms(), .cg = cg_detect(), .inside = -1, .root_command = root_request(req)};
  struct root_ids root;
  bool root_valid;
  if (s.root_command && !root_parse(user.root, user.uid, user.gid, &root, &root_valid))
    die(EXIT_REFUSED, "your administrator has not given you root in your container (policy \"root\")");
  random_hex(s.id, 6);
  log_login(&s);
  s.init_pidfd = state_read(dir, caller_uid, &rec) ? state_pin(&rec) : -1;
  static char pending[96], restarted_for[96];
  s.pending = pending;
  s.restarted_for = restarted_for;
  /* netns brings no session of its own: it joins the container as it is (the
   * user's own settings, which it does not carry, must not restart it), unless
   * the change takes access away, which no login may keep. */
  if (s.init_pidfd >= 0 && (req->verb != VERB_NETNS || drift_takes_access(&rec, &user)))
    bring_in_line(&s, dir, &rec, &user, pending, restarted_for, sizeof pending);
  if (s.init_pidfd < 0) {
    /* None, stale (its init died, or its pid now names someone else: SA-23),
     * or just ended for a restart: clear what is left and start afresh. */
    s.cg->destroy(caller_uid);
    nat_remove(caller_uid);
    state_remove(dir, caller_uid);
    notice_remove(dir, caller_uid);
    int commit;
    s.init_pidfd = container_create(&user, s.cg, &rec, &commit);
    drift_record(&rec, &user);
    hold_limits(&rec, &user.limits);
    state_write(dir, &rec);
    /* Again, now that the record shows them: an apply between nat_prepare
     * and here did not see them and may have freed them. */
    if (rec.udp_ports)
      nat_keep_published(rec.udp_ports);
    container_commit(commit);
    s.created = true;
    log_start(&s);
    if (s.cg->open_entry(caller_uid, &user.limits, &s.entry) < 0)
      die(EXIT_INTERNAL, "can't enter the cgroup of the container just made");
  }
  /* A login shell starts where the image says (its WorkingDir), as in docker
   * run; commands (ssh host cmd, scp, rsync, git) start in the home. */
  static char workdir[PATH_MAX_LEN + 1];
  if (strcmp(user.image, "host") && (req->verb == VERB_LOGIN || (s.root_command && !s.root_command[0]))) {
    image_workdir(&user, workdir, sizeof workdir);
    s.workdir = workdir[0] ? workdir : NULL;
  }
  if (req->verb == VERB_NETNS) {
    for (int i = 0; i < s.entry.n; i++)
      close(s.entry.fds[i]);
    send_netns(&s);
  }
  if (session_needs_inside(&s)) {
    s.inside = trusted_exec_fd(CELLSH_INSIDE); /* root's, like the helper: what runs as the user inside */
    /* fs.suid_dumpable=1 leaves cellsh-inside traceable as its exec returns, and
     * so the pipe to the monitor, whose lines the log takes: then it gets none. */
    cleanup_free char *dumpable = read_small_at(AT_FDCWD, "/proc/sys/fs/suid_dumpable", 16, NULL);
    s.inside_reports = dumpable && dumpable[0] != '1';
  }
  /* Held until the session's process is inside (session.c), so an idle
   * restart never ends the container under a login on its way in. */
  s.join_lock = join_lock(dir, caller_uid);
  budget_settle(true);
  flock(lock, LOCK_UN);
  close(lock);
  close(dir);
  session_run(&s);
}

static void add_ports(const struct user_policy *u, void *want) {
  if (u->udp_ports)
    port_set_add(want, u->udp_ports >> 16, u->udp_ports & 0xffff);
}

/* Add what the running containers' NATs publish (they keep the ports they
 * started with until they restart, whatever the policy says now). A login
 * that kept its ports under an older policy but has not written its record
 * yet keeps them again once it has (login), so no lock is waited for here:
 * apply never waits for a login. */
static void add_running_ports(struct port_set *want) {
  int dir = state_dir(); /* an O_PATH fd: the listing needs one of its own */
  DIR *d = fdopendir(openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d)
    die_errno(EXIT_INTERNAL, "can't read %s", CELLSH_STATE_DIR);
  for (struct dirent *e; (e = readdir(d));) {
    char *dot = strchr(e->d_name, '.');
    uint32_t uid;
    struct container_record rec;
    if (!dot || strcmp(dot, ".state"))
      continue;
    *dot = '\0';
    if (!parse_u32(e->d_name, &uid) || uid == 0)
      continue;
    int pin = state_read(dir, uid, &rec) == 1 && rec.udp_ports ? state_pin(&rec) : -1;
    if (pin >= 0) {
      port_set_add(want, rec.udp_ports >> 16, rec.udp_ports & 0xffff);
      close(pin);
    }
  }
  closedir(d);
  close(dir);
}

/* cellsh-helper ports (root's: cellsh-admin apply, the boot unit): the ports
 * the applied policy publishes and those running containers still do, and no
 * others, are kept for the NAT. */
static NORETURN void do_ports(void) {
  if (getuid() != 0)
    die(EXIT_REFUSED, "only root keeps the published UDP ports (cellsh-admin apply does)");
  static struct port_set want;
  if (access(CELLSH_POLICY_PATH, F_OK) == 0 || errno != ENOENT) {
    cleanup_fd int fd = trusted_open(CELLSH_POLICY_PATH);
    char err[256];
    if (policy_each_fd(fd, add_ports, &want, err, sizeof err) < 0)
      die(EXIT_CONFIG, "the applied policy %s is invalid (%s); run \"cellsh-admin apply\"", CELLSH_POLICY_PATH, err);
  }
  add_running_ports(&want);
  nat_keep_ports(&want, true);
  exit(0);
}

int main(int argc, char **argv) {
  caller_sanitize_fds_and_timers();
  helper_argv = argv;
  struct kept_env env;
  env_keep(environ, &env);
  clearenv(); /* never read again (SA-03) */
  struct request req;
  char err[256];
  if (!parse_args(argc, argv, &req, err, sizeof err))
    die(EXIT_USAGE, "%s", err);
  struct caller_limits limits;
  caller_check_entry(&limits);
  if (req.verb == VERB_PORTS)
    do_ports();
  if (req.verb == VERB_STOP) {
    int dir = state_dir();
    if (getuid() != 0)
      (void)session_slot(dir, getuid(), limits.nproc); /* held until exit */
    uid_t caller = caller_take_identity();
    cg_detect()->adopt_helper();
    do_stop(&req, caller, dir);
  }
  /* Every refusal that needs nothing of root's comes before the real uid
   * becomes 0 (caller.h), the bound on what one uid may hold at once too. */
  if (getuid() == 0)
    die(EXIT_REFUSED, "cellsh does not serve root");
  caller_check_stdio();
  int channel = caller_take_channel(req.pty_mask != 0 || req.agent || req.verb == VERB_NETNS, getuid());
  int dir = state_dir();
  int slot = session_slot(dir, getuid(), limits.nproc);
  caller_uid = caller_take_identity();
  cg_detect()->adopt_helper();
  login(&req, &env, &limits, channel, dir, slot);
}
