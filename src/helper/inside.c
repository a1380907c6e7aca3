/* cellsh-inside: a session's last steps, inside its container as the user, so
 * that they need not be part of the setuid helper. Neither setuid nor trusted
 * with anything: the helper execs it by an O_PATH fd (opened as root from its
 * compiled-in path, checked root's) once the process is the user's, confined,
 * under its seccomp filter, with no fd of root's left. What it does the user
 * could do for themselves, but for the pipe to the session's monitor, which
 * logs what it writes: so it is installed 0711 (the helper refuses it readable,
 * and the kernel lets no one trace a process running a file it may not read)
 * and makes itself not dumpable; where fs.suid_dumpable=1 undoes the first,
 * it gets no pipe. That pipe never reaches the program.
 *
 * It says what the person should know about their container's settings, opens
 * the inner terminal and the SSH agent socket, sends cellsh the "started"
 * message with their fds, then execs the program. Its argv is the helper's
 * (inside.h). The helper runs it only for a session that needs one of these:
 * a plain command goes straight to the shell, an exec (a millisecond here)
 * sooner. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <termios.h>
#include <unistd.h>

#include "args.h"
#include "inside.h"
#include "rootfs.h"
#include "util.h"

#define DEVPTS_SUPER_MAGIC 0x1cd1
#define MAX_SENT_FDS 4

extern char **environ;

/* An fd number from argv, or -1 for "-". */
static int fd_arg(const char *s) {
  uint32_t fd;
  if (!strcmp(s, "-"))
    return -1;
  if (!parse_u32(s, &fd) || fd < 3 || fd > 1023)
    die(EXIT_USAGE, "cellsh-inside: \"%.16s\" is not an fd", s);
  return (int)fd;
}

/* What an interactive login hears about its container's settings (the helper
 * passes none for a command: its stderr is a script's). */
static void tell_settings(const struct inside_args *a, const char *nl) {
  if (!strcmp(a->notice, INSIDE_NOTICE_NONE))
    return;
  if (!strcmp(a->notice, INSIDE_NOTICE_RESTARTED))
    say("cellsh: your container was restarted to apply changed settings (%s).%s", a->settings, nl);
  else if (!strcmp(a->notice, INSIDE_NOTICE_PENDING_MANUAL))
    say("cellsh: your container's settings changed (%s); they apply when it restarts: run \"kill 1\" "
        "(ends every process in it) or ask your administrator (\"cellsh-admin restart %s\").%s",
        a->settings, a->user, nl);
  else
    say("cellsh: your container's settings changed (%s); they apply when it restarts, at your first "
        "login once nothing of yours runs in it (or now: \"kill 1\" ends every process in it).%s",
        a->settings, nl);
}

static void parse_inside_args(int argc, char **argv, struct inside_args *a) {
  memset(a, 0, sizeof *a);
  if (argc < INSIDE_PROGRAM + 2)
    die(EXIT_USAGE, "cellsh-inside is started by cellsh-helper only");
  if (strcmp(argv[INSIDE_PTY], "-") && !parse_pty_spec(argv[INSIDE_PTY], &a->pty_mask, &a->rows, &a->cols))
    die(EXIT_USAGE, "cellsh-inside: bad terminal \"%.32s\"", argv[INSIDE_PTY]);
  a->agent = !strcmp(argv[INSIDE_AGENT], "agent");
  a->channel = fd_arg(argv[INSIDE_CHANNEL]);
  a->report = fd_arg(argv[INSIDE_REPORT]);
  a->session = argv[INSIDE_SESSION];
  a->container = argv[INSIDE_CONTAINER];
  a->created = !strcmp(argv[INSIDE_CREATED], STARTED_CREATED);
  a->started_ms = argv[INSIDE_STARTED_MS];
  a->notice = argv[INSIDE_NOTICE];
  a->settings = argv[INSIDE_SETTINGS];
  a->user = argv[INSIDE_USER];
  a->program = argv[INSIDE_PROGRAM];
  a->program_argv = argv + INSIDE_PROGRAM + 1;
  if ((a->pty_mask || a->agent) && a->channel < 0)
    die(EXIT_USAGE, "cellsh-inside: a terminal or an agent needs cellsh's channel");
}

/* The inner terminal, allocated in the container's own devpts (SA-31): check
 * it is that devpts, unlock it, take the peer by fd (TIOCGPTPEER, no path
 * lookup) and make it the controlling terminal of this new session. */
static int open_inner_pty(const struct inside_args *a, int *slave, char *name, size_t namelen) {
  int master = RETRY(open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
  struct statfs fs;
  int unlock = 0, index = -1;
  if (master < 0 || fstatfs(master, &fs) < 0 || fs.f_type != DEVPTS_SUPER_MAGIC ||
      ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &index) < 0)
    die_errno(EXIT_INTERNAL, "can't open a terminal in the container");
  *slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  struct winsize ws = {.ws_row = a->rows, .ws_col = a->cols};
  if (*slave < 0 || ioctl(*slave, TIOCSWINSZ, &ws) < 0 || ioctl(*slave, TIOCSCTTY, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't set up the container's terminal");
  xsnprintf(name, namelen, "/dev/pts/%d", index);
  return master;
}

/* The session's SSH agent socket in the user's own folder of the container;
 * cellsh relays what connects to it to the agent sshd made on the host. No
 * host folder is bound in (SA-16). The newest session's is "current". */
static void open_agent(const struct inside_args *a, int *listener, int *dir, char *name, size_t namelen) {
  char tmp[64];
  xsnprintf(name, namelen, "%s-%s" AGENT_SOCKET_SUFFIX, a->started_ms, a->session);
  xsnprintf(tmp, sizeof tmp, ".current.%s", a->session);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  xsnprintf(addr.sun_path, sizeof addr.sun_path, AGENTS_DIR "/%s", name);
  *listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  *dir = RETRY(open(AGENTS_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (*listener < 0 || *dir < 0 || bind(*listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(*listener, 16) < 0)
    die_errno(EXIT_INTERNAL, "can't make the agent socket \"%s\" in your container", addr.sun_path);
  unlinkat(*dir, tmp, 0);
  if (symlinkat(name, *dir, tmp) < 0 || renameat(*dir, tmp, *dir, "current") < 0)
    die_errno(EXIT_INTERNAL, "can't point %s at this session's agent", AGENT_SOCK);
}

/* One text message, with up to MAX_SENT_FDS fds, over the channel. */
static void send_message(int channel, char *text, const int *fds, size_t n_fds) {
  char control[CMSG_SPACE(MAX_SENT_FDS * sizeof(int))] = {0};
  struct iovec iov = {.iov_base = text, .iov_len = strlen(text)};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (n_fds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || n_fds > MAX_SENT_FDS) /* cmsg(3): NULL only if the control can't hold a header */
      die(EXIT_INTERNAL, "can't pass %zu fds to cellsh", n_fds);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, n_fds * sizeof(int));
  }
  if (RETRY(sendmsg(channel, &msg, MSG_NOSIGNAL)) < 0)
    die_errno(EXIT_INTERNAL, "can't reach cellsh over its channel");
}

static NORETURN void session(const struct inside_args *a) {
  if (a->report >= 0)
    die_report_to(a->report); /* the session's monitor logs a failure before the program starts */
  /* Until the exec, a closed stderr must not end the session halfway. */
  signal(SIGPIPE, SIG_IGN);
  tell_settings(a, a->pty_mask ? "\r\n" : "\n"); /* the terminal is raw while cellsh relays it */
  char tty[32] = "", agent[64] = "";
  int fds[MAX_SENT_FDS];
  size_t n_fds = 0;
  /* The program's own pidfd, so cellsh passes signals to it directly: the
   * monitor stays root and the user can't signal that. */
  if (a->channel >= 0 && (fds[n_fds++] = (int)pidfd_open(getpid(), 0)) < 0)
    die_errno(EXIT_INTERNAL, "can't make a pidfd for your session");
  if (a->pty_mask) {
    int slave;
    fds[n_fds++] = open_inner_pty(a, &slave, tty, sizeof tty);
    for (int fd = 0; fd < 3; fd++)
      if ((a->pty_mask & (1u << fd)) && dup2(slave, fd) < 0)
        die_errno(EXIT_INTERNAL, "can't attach the terminal");
    close(slave);
    if (getenv("SSH_CONNECTION") && setenv("SSH_TTY", tty, 1) < 0)
      die_errno(EXIT_INTERNAL, "can't set SSH_TTY");
  }
  if (a->agent) {
    open_agent(a, &fds[n_fds], &fds[n_fds + 1], agent, sizeof agent);
    n_fds += 2;
  }
  if (a->channel >= 0) {
    char msg[160];
    xsnprintf(msg, sizeof msg, STARTED_WORD " %s %s %s%s%s", a->session, a->container,
              a->created ? STARTED_CREATED : STARTED_JOINED, agent[0] ? " " : "", agent);
    send_message(a->channel, msg, fds, n_fds);
  }
  /* Nothing but stdio crosses into the user's program (SA-05); the report
   * pipe is close-on-exec, and says why if the exec fails. */
  if (a->report >= 0 && fcntl(a->report, F_SETFD, FD_CLOEXEC) < 0)
    die_errno(EXIT_INTERNAL, "can't prepare your session");
  close_all_but(&a->report, 1);
  signal(SIGPIPE, SIG_DFL);
  execve(a->program, a->program_argv, environ);
  die_errno(127, "can't run your shell \"%s\" in the container", a->program);
}

int main(int argc, char **argv) {
  /* Not dumpable, so the user can't trace this process and write to the
   * monitor's pipe in its name: an exec of a file the user may not read (it is
   * installed 0711) already makes it so, unless fs.suid_dumpable says otherwise. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (argc < 1 || !argv[0])
    die(EXIT_USAGE, "cellsh-inside is started by cellsh-helper only");
  if (strcmp(argv[0], INSIDE_SESSION_NAME))
    die(EXIT_USAGE, "cellsh-inside is started by cellsh-helper only");
  struct inside_args a;
  parse_inside_args(argc, argv, &a);
  session(&a);
}
