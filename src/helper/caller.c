#define _GNU_SOURCE
#include "caller.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>

#include "args.h"
#include "util.h"

#define GIB (1ull << 30)
#define MIB (1ull << 20)

void caller_sanitize_fds_and_timers(void) {
  /* Interval timers survive execve(2) (setitimer(2)); a caller could time a
   * SIGALRM, SIGVTALRM or SIGPROF (default action: terminate) to any point of
   * the privileged work. POSIX timers do not survive exec. */
  static const int timers[] = {ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF};
  for (size_t i = 0; i < sizeof timers / sizeof *timers; i++)
    if (setitimer(timers[i], &(struct itimerval){{0, 0}, {0, 0}}, NULL) < 0)
      _exit(EXIT_INTERNAL);
  /* fds 0-2 must be open, or a file opened later would land on them and
   * receive what is meant for stderr (SA-05); everything above the channel goes. */
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && RETRY(open("/dev/null", O_RDWR)) != fd)
      _exit(EXIT_INTERNAL);
  close_range(CHANNEL_FD + 1, ~0U, 0);
}

/* Limits a caller could lower to cut root code short (a log line cut by
 * RLIMIT_FSIZE, SIGXCPU at a chosen CPU second) or starve it (a failed
 * allocation halfway through). Each goes to unlimited while privileged; where
 * the hard limit can't be raised (CAP_SYS_RESOURCE is missing from root's
 * bounding set on some hosts, this one's included), the soft one goes up to it,
 * and a hard limit below what the helper needs is refused. */
static const struct {
  int resource;
  const char *name;
  rlim_t floor; /* the least hard limit the helper can work with */
} raised[CL_COUNT] = {
    [CL_FSIZE] = {RLIMIT_FSIZE, "file-size", RLIM_INFINITY}, /* an audit line is never cut */
    [CL_CPU] = {RLIMIT_CPU, "CPU-time", RLIM_INFINITY},      /* the monitor lives as long as the session */
    [CL_AS] = {RLIMIT_AS, "address-space", GIB},
    [CL_DATA] = {RLIMIT_DATA, "data-size", GIB},
    [CL_STACK] = {RLIMIT_STACK, "stack-size", 8 * MIB},
};

static void raise_limits(struct caller_limits *out) {
  static const struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
  for (int i = 0; i < CL_COUNT; i++) {
    struct rlimit *had = &out->saved[i];
    if (getrlimit(raised[i].resource, had) < 0)
      die_errno(EXIT_INTERNAL, "can't read the resource limits");
    if (setrlimit(raised[i].resource, &unlimited) == 0)
      continue;
    struct rlimit to_hard = {had->rlim_max, had->rlim_max};
    if (had->rlim_max < raised[i].floor || setrlimit(raised[i].resource, &to_hard) < 0)
      die(EXIT_USAGE, "the %s limit (hard: %llu) is below what cellsh needs; raise it (ulimit -H) or ask your "
                      "administrator",
          raised[i].name, (unsigned long long)had->rlim_max);
  }
}

/* Ignored while the helper runs: see caller_check_entry. */
static bool ignored_here(int sig) {
  return sig == SIGPIPE || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

void caller_check_entry(struct caller_limits *out) {
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
    die(EXIT_REFUSED, "no_new_privs is set: cellsh can't start a container from inside one");
  if (geteuid() != 0)
    die(EXIT_CONFIG, "cellsh-helper is not installed setuid root; ask your administrator to run install.sh");
  /* Files the helper creates belong to root:root, not to the caller's group. */
  if (setegid(0) < 0)
    die_errno(EXIT_INTERNAL, "can't set the effective gid");
  struct rlimit nofile, nproc, core;
  if (getrlimit(RLIMIT_NOFILE, &nofile) < 0 || getrlimit(RLIMIT_NPROC, &nproc) < 0 ||
      getrlimit(RLIMIT_CORE, &core) < 0)
    die_errno(EXIT_INTERNAL, "can't read the resource limits");
  if (nofile.rlim_cur < NOFILE_MIN)
    die(EXIT_USAGE, "the open-files limit (ulimit -n %llu) is below the %d cellsh needs",
        (unsigned long long)nofile.rlim_cur, NOFILE_MIN);
  out->nproc = nproc.rlim_cur;
  raise_limits(out);
  /* No core dumps and not dumpable: no one may read a privileged process's memory. */
  struct rlimit no_core = {0, core.rlim_max};
  if (setrlimit(RLIMIT_CORE, &no_core) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't secure the helper process");
  /* Default dispositions, but: SIGPIPE ignored, so a caller who closes the
   * read end of stderr can't end root code at a write; the terminal's stop
   * signals ignored, so ^Z can't stop it (signals a terminal sends its
   * foreground process group skip the permission check, and the caller may
   * make that the helper's); the signals passed on held (caller.h). The
   * session's program gets the defaults back before exec. */
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      signal(sig, ignored_here(sig) ? SIG_IGN : SIG_DFL);
  sigset_t held;
  caller_passed_on(&held);
  sigprocmask(SIG_SETMASK, &held, NULL);
  /* Nor the caller's scheduling class: a real-time one escapes the cpu limit
   * (CFS bandwidth does not throttle it, and cgroup v1 refuses it a place in
   * a cgroup without real-time runtime), SCHED_IDLE would starve root code.
   * The nice value stays: the login's, as pam_limits may have set it. */
  if (sched_setscheduler(0, SCHED_OTHER, &(struct sched_param){0}) < 0)
    die_errno(EXIT_INTERNAL, "can't reset the scheduling class");
}

void caller_passed_on(sigset_t *set) {
  static const int passed[] = PASSED_ON_SIGNALS;
  sigemptyset(set);
  for (size_t i = 0; i < sizeof passed / sizeof *passed; i++)
    sigaddset(set, passed[i]);
}

void caller_restore(const struct caller_limits *l) {
  for (int i = 0; i < CL_COUNT; i++)
    if (setrlimit(raised[i].resource, &l->saved[i]) < 0)
      die_errno(EXIT_INTERNAL, "can't restore your %s limit", raised[i].name);
  for (int sig = 1; sig < NSIG; sig++)
    if (ignored_here(sig))
      signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The container never gets a terminal from outside; cellsh passes /dev/null or
 * pipes in their place and relays the terminal itself (SA-31). fds 0-2 may
 * only carry data into the container: pipes, sockets, regular files and the
 * harmless devices. An O_PATH or directory fd would be a handle on the host's
 * file system, a device another way out (SA-05). */
void caller_check_stdio(void) {
  for (int fd = 0; fd < 3; fd++)
    if (isatty(fd))
      die(EXIT_USAGE, "refusing to run with a terminal on fd %d: it would reach into the container; "
                      "log in through cellsh, which relays the terminal",
          fd);
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

int caller_take_channel(bool required, uid_t uid) {
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
    die(EXIT_USAGE, "--pty, --agent and netns need fd %d to be a channel (an AF_UNIX SOCK_SEQPACKET socket)", CHANNEL_FD);
  return -1;
}

/* A process whose real uid is the caller's can be stopped, killed, reniced or
 * prlimit()ed by the caller at any instruction, and so could the root children
 * forked from it (SA-07, SA-25); it also counts against the caller's process
 * limit, which root's processes do not. So the caller's uid is kept as data
 * and the real uid becomes 0, after every refusal that can be made without
 * root's files, and every message from then on goes out without blocking
 * (say_prepare). The session's program becomes the user again explicitly. */
uid_t caller_take_identity(void) {
  uid_t uid = getuid();
  if (setresuid(0, 0, 0) < 0 || getuid() != 0)
    die_errno(EXIT_INTERNAL, "can't take the real uid");
  say_prepare();
  return uid;
}
