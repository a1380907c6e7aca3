/* pam_cellsh: puts sshd's session of an enrolled user into the network
 * namespace of the user's own container, so that sshd's forwarding (-L, -R,
 * -D, -W, stream-local, X11) connects and listens where the user's container
 * does, never in the host's network.
 *
 *   session required pam_cellsh.so [group=NAME]
 *
 * in sshd's session stack: one line, with no guard before it (pam_succeed_if
 * gives up on long /etc/group lines, and would skip the module where sshd's
 * Match Group still counts the user in). For a user who is not in the cellsh
 * group (NAME, default "cellsh") it does nothing; if it can't tell, it refuses. For one who is, it runs the helper as
 * that user, exactly as a login does (`cellsh-helper netns`: the same policy,
 * limits, pinning and audit log, the container started if none runs), takes
 * the namespace the helper sends back and joins it. Anything else, the
 * helper's refusal included, refuses the session (fail closed) with a line in
 * the system log: the host's network is never the fallback.
 *
 * It runs as root inside sshd before the user's channels are served, so it
 * trusts only PAM_USER resolved through NSS, its own argument, and the
 * root-owned helper; it keeps nothing open and leaves sshd's signals as they
 * were. (SA-41) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "config.h"
#include "contract.h" /* CHANNEL_FD, NETNS_JOINED, NETNS_HOST, STARTED_ID_LEN */

#define HELPER CELLSH_LIBDIR "/cellsh-helper"
#define ANSWER_WAIT_MS 90000 /* all the helper may take: it waits up to 60 s for a login holding the lock */
#define NSS_BUF_MAX (1 << 22)
#define CTL_FD (CHANNEL_FD + 1)  /* the child's socket to the module, until the exec */
#define SPAWN_STACK (256 * 1024) /* the child's stack until its exec */
#define EXEC_WAIT_S 5            /* what the child may take to reach its exec (microseconds, as a rule) */

/* NSS look-ups, growing the buffer while it is too small. Each returns 1 found,
 * 0 not found, -1 on an error (the caller then refuses: never a guess). */
static int lookup_user(const char *name, struct passwd *pw, char **buf) {
  struct passwd *found = NULL;
  for (size_t len = 16384; len <= NSS_BUF_MAX; len *= 2) {
    free(*buf);
    if (!(*buf = malloc(len)))
      return -1;
    int e = getpwnam_r(name, pw, *buf, len, &found);
    if (e != ERANGE)
      return e ? -1 : found ? 1
                            : 0;
  }
  return -1;
}

static int lookup_group(const char *name, gid_t *gid) {
  struct group gr, *found = NULL;
  for (size_t len = 16384; len <= NSS_BUF_MAX; len *= 2) {
    char *buf = malloc(len);
    if (!buf)
      return -1;
    int e = getgrnam_r(name, &gr, buf, len, &found);
    if (found)
      *gid = gr.gr_gid;
    free(buf);
    if (e != ERANGE)
      return e ? -1 : found ? 1
                            : 0;
  }
  return -1;
}

/* The user as a login of theirs has them: the account and its groups. */
struct account {
  struct passwd pw;
  gid_t *groups;
  int ngroups;
};

/* The groups a login of the user has (what initgroups sets), looked up once:
 * the membership test and the helper's child both use them. *groups (the
 * caller frees it) and *n; 0, or -1 on an error. */
static int user_groups(const char *user, gid_t primary, gid_t **groups, int *n) {
  int len = 64;
  for (int tries = 0; tries < 4; tries++) {
    if (!(*groups = malloc((size_t)len * sizeof **groups)))
      return -1;
    int want = len;
    if (getgrouplist(user, primary, *groups, &want) >= 0) {
      *n = want;
      return 0;
    }
    free(*groups);
    *groups = NULL;
    if (want <= len)
      return -1;
    len = want;
  }
  return -1;
}

/* Is the group called group among the user's? 1 yes, 0 no (or no such group:
 * nobody is in it, as pam_succeed_if and sshd's Match agree), -1 can't tell. */
static int in_group(const gid_t *groups, int n, const char *group) {
  gid_t want = 0;
  int r = lookup_group(group, &want);
  if (r <= 0)
    return r;
  for (int i = 0; i < n; i++)
    if (groups[i] == want)
      return 1;
  return 0;
}

/* The helper as install.sh leaves it: root's, setuid, written by root only. */
static bool helper_trusted(void) {
  struct stat st;
  return lstat(HELPER, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 && (st.st_mode & S_ISUID) &&
         !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/* Send or receive one message with at most one fd. */
static bool send_fd(int sock, int fd) {
  char byte = 'c';
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(sock, &m, MSG_NOSIGNAL) == 1;
}

/* One message into buf (NUL-terminated) and its fd (or -1); -1 on failure. */
static ssize_t recv_fd(int sock, char *buf, size_t len, int *fd, int wait_ms) {
  struct pollfd p = {.fd = sock, .events = POLLIN};
  *fd = -1;
  int r;
  do
    r = poll(&p, 1, wait_ms);
  while (r < 0 && errno == EINTR);
  if (r <= 0)
    return -1;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct iovec iov = {.iov_base = buf, .iov_len = len - 1};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0)
    return -1;
  buf[n] = '\0';
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
    memcpy(fd, CMSG_DATA(c), sizeof *fd);
  else if (c || (m.msg_flags & (MSG_CTRUNC | MSG_TRUNC)))
    n = -1; /* anything else is not the helper's answer */
  if (n < 0 && *fd >= 0) {
    close(*fd);
    *fd = -1;
  }
  return n;
}

/* The set*id calls with 32-bit ids: on i386 and 32-bit arm the plain numbers
 * are the old 16-bit calls, which would read the group list wrongly. */
#ifdef SYS_setresuid32
#define SYS_SETGROUPS SYS_setgroups32
#define SYS_SETRESGID SYS_setresgid32
#define SYS_SETRESUID SYS_setresuid32
#else
#define SYS_SETGROUPS SYS_setgroups
#define SYS_SETRESGID SYS_setresgid
#define SYS_SETRESUID SYS_setresuid
#endif

/* The child ends, saying why on fd (its stderr pipe): the module logs it. */
__attribute__((noreturn)) static void child_fail(int fd, const char *why) {
  static const char prefix[] = "pam_cellsh: ";
  (void)!write(fd, prefix, sizeof prefix - 1);
  (void)!write(fd, why, strlen(why));
  _exit(126);
}

/* The child's side of spawn_helper. */
struct spawn {
  const struct account *who;
  int ctl, err;               /* the child's ends */
  int parent_ctl, parent_err; /* the module's ends, closed in the child */
};

/* In the child: become the user for the helper (with the groups a login has)
 * and exec it with nothing of sshd's: stdio on /dev/null and the stderr pipe,
 * fd 3 a channel made as the user (the helper wants its peer to be the
 * caller), whose other end goes back to the module over ctl first. The saved
 * uid stays 0 until the exec, so the user can't trace this copy of sshd or
 * replace the program it runs (ptrace wants all three uids to be theirs).
 *
 * It shares sshd's memory until the exec (spawn_helper), so it changes no
 * memory of the process but its own stack: the credentials change by raw
 * system calls (glibc's wrappers would signal sshd's other threads, if it had
 * any), and nothing here allocates, locks or looks anything up. A failure
 * says why on the stderr pipe, which the module logs. */
static int run_helper(void *arg) {
  const struct spawn *sp = arg;
  const struct account *who = sp->who;
  const struct passwd *pw = &who->pw;
  close(sp->parent_ctl);
  close(sp->parent_err);
  /* First, while only root may signal it: once its uid is the user's, the user
   * may stop it, and sshd would wait in the clone for good. The timer ends it
   * at EXEC_WAIT_S; the exec deletes the timer. */
  int timer;
  struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGKILL};
  struct itimerspec when = {.it_value = {.tv_sec = EXEC_WAIT_S}};
  if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &timer) < 0 || syscall(SYS_timer_settime, timer, 0, &when, NULL) < 0)
    child_fail(sp->err, "can't set the child's deadline");
  /* The module blocked every signal before the clone, and they stay blocked
   * through the exec: none runs sshd's handlers here or ends the child (with a
   * core) before it is not dumpable. The exec resets the handlers, and the
   * helper sets every disposition and its mask itself (it trusts none it is
   * given). */
  int null = open("/dev/null", O_RDWR);
  if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(sp->err, 2) < 0 || dup2(sp->ctl, CTL_FD) < 0)
    child_fail(sp->err, "can't set up the helper's files");
  close(CHANNEL_FD);
  if (close_range(CTL_FD + 1, ~0u, 0) < 0)
    child_fail(2, "can't close sshd's files");
  /* A uid change resets "dumpable" to fs.suid_dumpable: clear it after. */
  if (syscall(SYS_SETGROUPS, (size_t)who->ngroups, who->groups) < 0 ||
      syscall(SYS_SETRESGID, pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 || syscall(SYS_SETRESUID, pw->pw_uid, pw->pw_uid, 0) < 0 ||
      getuid() != pw->pw_uid || geteuid() != pw->pw_uid || getgid() != pw->pw_gid || getegid() != pw->pw_gid ||
      prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    child_fail(2, "can't become the user to run the helper");
  int ch[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch) < 0 || !send_fd(CTL_FD, ch[0]) ||
      dup2(ch[1], CHANNEL_FD) < 0 || fcntl(CHANNEL_FD, F_SETFD, 0) < 0 || close_range(CTL_FD, ~0u, 0) < 0)
    child_fail(2, "can't make the helper's channel");
  char *argv[] = {"cellsh-helper", "netns", NULL}, *envp[] = {NULL};
  execve(HELPER, argv, envp);
  child_fail(2, "can't run the helper");
}

/* Start run_helper in a child that shares sshd's memory until its exec
 * (CLONE_VM|CLONE_VFORK, as posix_spawn does): copying sshd's page tables for
 * a fork costs more here than all the rest of the module. The module waits
 * while the child runs, with every signal blocked, for EXEC_WAIT_S at most;
 * *pidfd names the child from the start. The child's uid change marks the
 * shared memory not dumpable; that is put back once the child has its own.
 * The child's pid, or -1. */
static pid_t spawn_helper(struct spawn *sp, int *pidfd) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE), size = SPAWN_STACK + page;
  char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED)
    return -1;
  if (mprotect(stack, page, PROT_NONE) < 0) { /* a guard below: an overflow faults in the child */
    munmap(stack, size);
    return -1;
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  pid_t pid = clone(run_helper, stack + size, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, sp, pidfd);
  if (dumpable >= 0)
    prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  munmap(stack, size);
  return pid;
}

/* The helper's first line on stderr, for the log (its own refusal). */
static void read_reason(int err, char *buf, size_t len) {
  ssize_t n;
  do
    n = read(err, buf, len - 1);
  while (n < 0 && errno == EINTR);
  buf[n > 0 ? n : 0] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
}

/* Milliseconds left until deadline (CLOCK_MONOTONIC ms), at least 0. */
static int left_ms(long long deadline) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  return now >= deadline ? 0 : (int)(deadline - now);
}

/* Wait for the child (pidfd names it) until deadline; past it, kill it. Its
 * status, -1 if it had to be killed. */
static int reap(pid_t pid, int pidfd, long long deadline) {
  struct pollfd p = {.fd = pidfd, .events = POLLIN};
  int r;
  do
    r = poll(&p, 1, left_ms(deadline));
  while (r < 0 && errno == EINTR);
  if (r <= 0)
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
  int status = -1;
  pid_t w;
  do
    w = waitpid(pid, &status, 0);
  while (w < 0 && errno == EINTR);
  /* sshd may have reaped it first (ECHILD): the answer alone then decides. */
  return r <= 0 ? -1 : w == pid ? status
                                : 0;
}

/* Ask the helper for the user's container; *netns is its namespace, or -1
 * when the policy gives the user the host's network. Everything, the helper's
 * exit included, within ANSWER_WAIT_MS. */
static int ask_helper(pam_handle_t *pamh, const struct account *who, int *netns) {
  const struct passwd *pw = &who->pw;
  int ctl[2], errp[2];
  *netns = -1;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0)
    return PAM_SESSION_ERR;
  if (pipe2(errp, O_CLOEXEC | O_NONBLOCK) < 0) {
    close(ctl[0]);
    close(ctl[1]);
    return PAM_SESSION_ERR;
  }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  long long deadline = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ANSWER_WAIT_MS;
  struct spawn sp = {.who = who, .ctl = ctl[1], .err = errp[1], .parent_ctl = ctl[0], .parent_err = errp[0]};
  int pidfd = -1;
  pid_t pid = spawn_helper(&sp, &pidfd);
  close(ctl[1]);
  close(errp[1]);
  char msg[128], reason[512] = "";
  int channel = -1, fd = -1, status = -1;
  ssize_t n = pid < 0 ? -1 : recv_fd(ctl[0], msg, sizeof msg, &channel, left_ms(deadline));
  if (n >= 0 && channel >= 0)
    n = recv_fd(channel, msg, sizeof msg, &fd, left_ms(deadline));
  else
    n = -1;
  if (pid > 0)
    status = reap(pid, pidfd, deadline);
  if (pidfd >= 0)
    close(pidfd);
  read_reason(errp[0], reason, sizeof reason);
  close(errp[0]);
  close(ctl[0]);
  if (channel >= 0)
    close(channel);
  size_t id = strlen(NETNS_JOINED) + 1;
  bool joined = n == (ssize_t)(id + STARTED_ID_LEN) && !strncmp(msg, NETNS_JOINED " ", id) && fd >= 0;
  bool host = n == (ssize_t)(strlen(NETNS_HOST) + 1 + STARTED_ID_LEN) && !strncmp(msg, NETNS_HOST " ", strlen(NETNS_HOST) + 1) &&
              fd < 0;
  if ((joined || host) && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    *netns = fd;
    return PAM_SUCCESS;
  }
  if (fd >= 0)
    close(fd);
  pam_syslog(pamh, LOG_ERR, "refusing the session of %s: cellsh could not give it the container's network (%s)",
             pw->pw_name, reason[0] ? reason : "the helper gave no answer in time");
  return PAM_SESSION_ERR;
}

static int session_in_container(pam_handle_t *pamh, const struct account *who);

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  (void)flags;
  const char *group = "cellsh", *user = NULL;
  for (int i = 0; i < argc; i++) {
    if (!strncmp(argv[i], "group=", 6) && argv[i][6])
      group = argv[i] + 6;
    else {
      pam_syslog(pamh, LOG_ERR, "unknown option \"%s\"", argv[i]);
      return PAM_SESSION_ERR;
    }
  }
  if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user || !user[0])
    return PAM_SESSION_ERR;
  struct account who = {.groups = NULL};
  char *buf = NULL;
  int found = lookup_user(user, &who.pw, &buf);
  int member = 0;
  if (found == 1 && who.pw.pw_uid != 0)
    member = user_groups(who.pw.pw_name, who.pw.pw_gid, &who.groups, &who.ngroups) < 0 ? -1 : in_group(who.groups, who.ngroups, group);
  int r = PAM_SESSION_ERR;
  if (found < 0 || member < 0)
    /* sshd's Match Group may still count them in, and open forwarding: never guess. */
    pam_syslog(pamh, LOG_ERR, "refusing the session of %s: can't tell whether they are in group %s", user, group);
  else if (found == 0 || member == 0)
    r = PAM_IGNORE; /* not cellsh's: sshd goes on as without this module */
  else if (strcmp(user, who.pw.pw_name) != 0)
    /* sshd's "Match User" in cellsh-forwarding.conf compares the name the
     * client typed: another spelling NSS accepts (ALICE, alice@domain) would
     * get the group's forwarding instead of the user's own. */
    pam_syslog(pamh, LOG_ERR, "refusing the session of %s: log in as %s, the account's own name", user, who.pw.pw_name);
  else
    r = session_in_container(pamh, &who);
  free(who.groups);
  free(buf);
  return r;
}

/* For a member of the group: the helper's answer, then join its namespace. */
static int session_in_container(pam_handle_t *pamh, const struct account *who) {
  const struct passwd *pw = &who->pw;
  if (!helper_trusted()) {
    pam_syslog(pamh, LOG_ERR, "refusing the session of %s: %s is not root's setuid helper", pw->pw_name, HELPER);
    return PAM_SESSION_ERR;
  }
  int netns;
  int r = ask_helper(pamh, who, &netns);
  if (r != PAM_SUCCESS || netns < 0)
    return r;
  r = setns(netns, CLONE_NEWNET) == 0 ? PAM_SUCCESS : PAM_SESSION_ERR;
  if (r != PAM_SUCCESS)
    pam_syslog(pamh, LOG_ERR, "refusing the session of %s: can't join the container's network: %m", pw->pw_name);
  close(netns);
  return r;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  (void)pamh;
  (void)flags;
  (void)argc;
  (void)argv;
  return PAM_SUCCESS;
}
