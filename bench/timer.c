/* The benchmark's stopwatch: runs commands many times in interleaved order and
 * prints each run's wall time, so that every row of a table sees the same
 * machine noise. Node would add its own spawn cost and jitter to millisecond
 * figures; this does fork, exec and waitpid and nothing else.
 *
 *   timer run  --runs N [--warmup W] [--timeout S] [--seed X] < SPEC
 *   timer echo --pings N [--gap-us U] [--timeout S] < SPEC
 *   timer burst [--timeout S] < SPEC     every command at once, once
 *   timer hold --spec FILE [--timeout S]  every command on a terminal until stdin ends
 *
 * SPEC is one command after another, a line per setting; values take C escapes
 * (\n \r \t \\ \xHH):
 *   cmd NAME      starts a command           arg VALUE   one argv entry
 *   file PATH     the program to run when argv[0] is not its path ("-cellsh")
 *   uid N         run with the user's ids, groups, HOME/USER/LOGNAME/SHELL, cwd ~
 *   pre VALUE     one argv entry of an untimed command run (as root) before each run
 *   legacy        in a private mount namespace with /sys/fs/cgroup/unified detached
 *                 (crun refuses this host's hybrid cgroup layout)
 *   pty           on a new terminal, as its controlling tty, read by this program
 *   until TEXT    pty: the timed part ends when TEXT was read (default: at exit)
 *   send TEXT     pty: written once TEXT was read
 *   env K=V       one more environment variable
 *
 * `run` prints one JSON line per command: {"name","ms":[..],"first_ms":[..],
 * "last_ms":[..],"bytes":[..],"errors":N,"error":"..."}; ms is fork to exit,
 * first_ms fork to `until` (or the first byte; its exit if it printed nothing), last_ms fork to the last byte. `echo` starts every command on a terminal, waits for its `until`,
 * then sends one byte at a time to each in shuffled turns and times the byte
 * coming back: {"name","us":[..],"errors":N,"error":"..."}. `burst` starts
 * them all at once and prints the run lines and {"wall_ms"}; `hold` prints
 * {"ready":[pids]} once every command printed its `until`, then keeps them on
 * their terminals until its stdin ends, hangs up and prints the run lines. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CMDS 256
#define MAX_ARGS 64
#define MAX_ENV 16
#define ERR_MAX 600

struct cmd {
  char *name;
  char *file;
  char *argv[MAX_ARGS + 1];
  int argc;
  char *pre[MAX_ARGS + 1];
  int prec;
  char *env[MAX_ENV + 1];
  int envc;
  long uid;
  struct passwd pw; /* resolved with its groups before any run: NSS is not timed */
  gid_t groups[64];
  int ngroups;
  bool legacy, pty;
  char *until, *send;
  size_t until_len, send_len;
  /* results */
  double *ms, *first_ms, *last_ms;
  long *bytes;
  int n, errors;
  char error[ERR_MAX];
  /* echo mode */
  int master;
  pid_t pid;
};

static struct cmd cmds[MAX_CMDS];
static int ncmds;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("timer: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static char *xstrdup(const char *s) {
  char *d = strdup(s);
  if (!d)
    die("out of memory");
  return d;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Decodes C escapes in place; returns the decoded length (NULs allowed via \x00). */
static size_t unescape(char *s) {
  char *out = s;
  for (char *p = s; *p; p++) {
    if (*p != '\\' || !p[1]) {
      *out++ = *p;
      continue;
    }
    p++;
    switch (*p) {
    case 'n': *out++ = '\n'; break;
    case 'r': *out++ = '\r'; break;
    case 't': *out++ = '\t'; break;
    case 'x':
      if (isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
        char hex[3] = {p[1], p[2], 0};
        *out++ = (char)strtol(hex, NULL, 16);
        p += 2;
      } else {
        *out++ = 'x';
      }
      break;
    default: *out++ = *p; break;
    }
  }
  *out = '\0';
  return (size_t)(out - s);
}

static void read_spec(FILE *in) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  struct cmd *c = NULL;
  while ((len = getline(&line, &cap, in)) > 0) {
    if (line[len - 1] == '\n')
      line[--len] = '\0';
    if (!len)
      continue;
    char *sp = strchr(line, ' ');
    char *val = sp ? sp + 1 : line + len;
    if (sp)
      *sp = '\0';
    char *v = xstrdup(val);
    size_t vlen = unescape(v);
    if (!strcmp(line, "cmd")) {
      if (ncmds == MAX_CMDS)
        die("more than %d commands", MAX_CMDS);
      c = &cmds[ncmds++];
      c->name = v;
      c->uid = -1;
      continue;
    }
    if (!c)
      die("\"%s\" before the first cmd", line);
    if (!strcmp(line, "arg") && c->argc < MAX_ARGS)
      c->argv[c->argc++] = v;
    else if (!strcmp(line, "pre") && c->prec < MAX_ARGS)
      c->pre[c->prec++] = v;
    else if (!strcmp(line, "env") && c->envc < MAX_ENV)
      c->env[c->envc++] = v;
    else if (!strcmp(line, "file"))
      c->file = v;
    else if (!strcmp(line, "uid"))
      c->uid = strtol(v, NULL, 10);
    else if (!strcmp(line, "legacy"))
      c->legacy = true;
    else if (!strcmp(line, "pty"))
      c->pty = true;
    else if (!strcmp(line, "until"))
      c->until = v, c->until_len = vlen;
    else if (!strcmp(line, "send"))
      c->send = v, c->send_len = vlen;
    else
      die("unknown spec line \"%s\"", line);
  }
  free(line);
  for (int i = 0; i < ncmds; i++) {
    struct cmd *k = &cmds[i];
    if (!k->argc)
      die("command \"%s\" has no arg", k->name);
    if (k->uid < 0)
      continue;
    struct passwd *pw = getpwuid((uid_t)k->uid);
    if (!pw)
      die("command \"%s\": no user %ld", k->name, k->uid);
    k->pw = *pw;
    k->pw.pw_name = xstrdup(pw->pw_name);
    k->pw.pw_dir = xstrdup(pw->pw_dir);
    k->pw.pw_shell = xstrdup(pw->pw_shell);
    k->ngroups = 64;
    if (getgrouplist(k->pw.pw_name, k->pw.pw_gid, k->groups, &k->ngroups) < 0)
      die("command \"%s\": user %s is in more than 64 groups", k->name, k->pw.pw_name);
  }
}

static void set_error(struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct cmd *c, const char *fmt, ...) {
  c->errors++;
  if (c->error[0])
    return; /* the first one tells the story */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->error, sizeof c->error, fmt, ap);
  va_end(ap);
}

/* The environment a login has: no NODE_EXTRA_CA_CERTS or anything else of ours. */
static void build_env(const struct cmd *c, const struct passwd *pw, char **envp, char bufs[][300]) {
  int n = 0;
  for (int i = 0; i < c->envc; i++) /* first: getenv takes the first of a name */
    envp[n++] = c->env[i];
  snprintf(bufs[n], 300, "PATH=/usr/local/bin:/usr/bin:/bin");
  envp[n] = bufs[n], n++;
  snprintf(bufs[n], 300, "LANG=C.UTF-8");
  envp[n] = bufs[n], n++;
  snprintf(bufs[n], 300, "TERM=xterm-256color");
  envp[n] = bufs[n], n++;
  snprintf(bufs[n], 300, "HOME=%s", pw ? pw->pw_dir : "/root");
  envp[n] = bufs[n], n++;
  if (pw) {
    snprintf(bufs[n], 300, "USER=%s", pw->pw_name);
    envp[n] = bufs[n], n++;
    snprintf(bufs[n], 300, "LOGNAME=%s", pw->pw_name);
    envp[n] = bufs[n], n++;
    snprintf(bufs[n], 300, "SHELL=%s", pw->pw_shell);
    envp[n] = bufs[n], n++;
  }
  envp[n] = NULL;
}

/* In the child: everything between fork and exec. Never returns. */
static void child(const struct cmd *c, int stdin_fd, int out_fd, int err_fd) {
  const struct passwd *pw = c->uid >= 0 ? &c->pw : NULL;
  if (!c->pty)
    setpgid(0, 0); /* its own group, so a timeout ends everything it started */
  if (c->legacy) {
    if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
      _exit(122);
    umount2("/sys/fs/cgroup/unified", MNT_DETACH); /* absent on a v1-only host: fine */
  }
  dup2(stdin_fd, 0);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  close_range(3, ~0U, 0);
  if (pw) {
    if (setgroups((size_t)c->ngroups, c->groups) || setgid(pw->pw_gid) || setuid(pw->pw_uid))
      _exit(123);
    if (chdir(pw->pw_dir))
      _exit(124);
  }
  char bufs[8 + MAX_ENV][300];
  char *envp[8 + MAX_ENV + 1];
  build_env(c, pw, envp, bufs);
  execve(c->file ? c->file : c->argv[0], c->argv, envp);
  _exit(127);
}

/* Runs the untimed preparation; false (with the error recorded) if it failed. */
static bool run_pre(struct cmd *c) {
  if (!c->prec)
    return true;
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0), dup2(null, 1), dup2(null, 2);
    char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL};
    execve(c->pre[0], c->pre, envp);
    _exit(127);
  }
  int st;
  if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
    set_error(c, "preparation %s failed (status %d)", c->pre[0], pid < 0 ? -1 : st);
    return false;
  }
  return true;
}

/* Waits for pid until deadline (ms); kills its process group and pid past it. */
static int wait_deadline(pid_t pid, double deadline, bool *timed_out) {
  int st = 0;
  if (pid <= 0)
    return -1; /* never waitpid(-1) or kill(-1): fork failed */
  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return st;
    if (r < 0)
      return -1;
    if (now_ms() > deadline) {
      *timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return st;
    }
    usleep(200);
  }
}

static void describe_status(struct cmd *c, int st, const char *out, size_t outlen) {
  char what[40];
  if (WIFSIGNALED(st))
    snprintf(what, sizeof what, "signal %d", WTERMSIG(st));
  else
    snprintf(what, sizeof what, "exit %d", WEXITSTATUS(st));
  set_error(c, "%s: %.*s", what, (int)(outlen > 400 ? 400 : outlen), out + (outlen > 400 ? outlen - 400 : 0));
}

static void record(struct cmd *c, double ms, double first, double last, long bytes) {
  c->ms[c->n] = ms;
  c->first_ms[c->n] = first;
  c->last_ms[c->n] = last;
  c->bytes[c->n] = bytes;
  c->n++;
}

static void run_plain(struct cmd *c, double timeout_ms, bool keep) {
  static int errfd = -1;
  if (errfd < 0)
    errfd = memfd_create("timer-stderr", MFD_CLOEXEC);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  ftruncate(errfd, 0);
  lseek(errfd, 0, SEEK_SET);
  double t0 = now_ms();
  pid_t pid = fork();
  if (pid < 0)
    die("fork failed: %s", strerror(errno));
  if (pid == 0)
    child(c, null, null, errfd);
  bool timed_out = false;
  int st = pid < 0 ? -1 : wait_deadline(pid, t0 + timeout_ms, &timed_out);
  double t1 = now_ms();
  close(null);
  if (pid < 0 || timed_out || st != 0) {
    char buf[ERR_MAX];
    ssize_t n = pread(errfd, buf, sizeof buf, 0);
    if (timed_out)
      set_error(c, "no exit within %.0f s", timeout_ms / 1000);
    else
      describe_status(c, st, buf, n > 0 ? (size_t)n : 0);
    return;
  }
  if (keep)
    record(c, t1 - t0, t1 - t0, t1 - t0, 0);
}

static int open_pty(char *slave_name, size_t len) {
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, slave_name, len))
    die("can't open a pty: %s", strerror(errno));
  struct winsize ws = {.ws_row = 24, .ws_col = 80};
  ioctl(m, TIOCSWINSZ, &ws);
  return m;
}

/* Forks c on a new pty; returns the master, the pid in *pid. */
static int spawn_pty(struct cmd *c, pid_t *pid, double *t0) {
  char name[64];
  int m = open_pty(name, sizeof name);
  if (t0)
    *t0 = now_ms();
  *pid = fork();
  if (*pid < 0)
    die("fork failed: %s", strerror(errno));
  if (*pid == 0) {
    setsid();
    int s = open(name, O_RDWR); /* the first tty a session leader opens becomes its ctty */
    if (s < 0)
      _exit(120);
    struct cmd copy = *c;
    copy.pty = false;
    child(&copy, s, s, s);
  }
  return m;
}

/* Appends what was read to a small tail buffer used for `until` and error reports. */
static void keep_tail(char *tail, size_t *tlen, const char *buf, size_t n) {
  const size_t cap = ERR_MAX - 1;
  if (n >= cap) {
    memcpy(tail, buf + n - cap, cap);
    *tlen = cap;
    return;
  }
  if (*tlen + n > cap) {
    size_t drop = *tlen + n - cap;
    memmove(tail, tail + drop, *tlen - drop);
    *tlen -= drop;
  }
  memcpy(tail + *tlen, buf, n);
  *tlen += n;
}

static void run_pty(struct cmd *c, double timeout_ms, bool keep) {
  double t0, first = -1, last = -1;
  pid_t pid;
  int m = spawn_pty(c, &pid, &t0);
  double deadline = t0 + timeout_ms;
  char buf[65536], tail[ERR_MAX];
  size_t tlen = 0;
  long total = 0;
  bool timed_out = false;
  for (;;) {
    struct pollfd p = {.fd = m, .events = POLLIN};
    int left = (int)(deadline - now_ms()), r;
    if (left <= 0 || (r = poll(&p, 1, left)) == 0) {
      timed_out = true;
      break;
    }
    if (r < 0)
      continue; /* EINTR */
    ssize_t n = read(m, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno == EINTR)
        continue;
      break; /* EIO: every slave fd is closed */
    }
    total += n;
    last = now_ms();
    keep_tail(tail, &tlen, buf, (size_t)n);
    if (first < 0 && (!c->until || memmem(tail, tlen, c->until, c->until_len))) {
      first = now_ms();
      if (c->send && write(m, c->send, c->send_len) != (ssize_t)c->send_len)
        break;
    }
  }
  int st = wait_deadline(pid, timed_out ? 0 : deadline, &timed_out);
  double t1 = now_ms();
  close(m);
  if (first < 0 && !c->until && st == 0 && !timed_out)
    first = last = t1; /* printed nothing, waited for nothing: timed to its exit */
  if (timed_out || st != 0 || first < 0) {
    if (timed_out)
      set_error(c, "no end within %.0f s; last output: %.*s", timeout_ms / 1000, (int)tlen, tail);
    else if (first < 0)
      set_error(c, "never printed the awaited text; last output: %.*s", (int)tlen, tail);
    else
      describe_status(c, st, tail, tlen);
    return;
  }
  if (keep)
    record(c, t1 - t0, first - t0, last - t0, total);
}

static void shuffle(int *order, int n) {
  for (int i = n - 1; i > 0; i--) {
    int j = rand() % (i + 1), t = order[i];
    order[i] = order[j], order[j] = t;
  }
}

static void print_json_string(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      printf("\\u%04x", *p);
    else
      putchar(*p);
  }
  putchar('"');
}

static void print_array(const char *key, const double *v, int n, const char *fmt) {
  printf(",\"%s\":[", key);
  for (int i = 0; i < n; i++)
    printf(i ? "," : ""), printf(fmt, v[i]);
  printf("]");
}

static void print_results(bool echo_mode) {
  for (int i = 0; i < ncmds; i++) {
    struct cmd *c = &cmds[i];
    printf("{\"name\":");
    print_json_string(c->name);
    if (echo_mode) {
      print_array("us", c->ms, c->n, "%.1f");
    } else {
      print_array("ms", c->ms, c->n, "%.3f");
      print_array("first_ms", c->first_ms, c->n, "%.3f");
      print_array("last_ms", c->last_ms, c->n, "%.3f");
      printf(",\"bytes\":[");
      for (int k = 0; k < c->n; k++)
        printf(k ? ",%ld" : "%ld", c->bytes[k]);
      printf("]");
    }
    printf(",\"errors\":%d,\"error\":", c->errors);
    print_json_string(c->error);
    printf("}\n");
  }
}

static void alloc_results(int n) {
  for (int i = 0; i < ncmds; i++) {
    cmds[i].ms = calloc((size_t)n, sizeof(double));
    cmds[i].first_ms = calloc((size_t)n, sizeof(double));
    cmds[i].last_ms = calloc((size_t)n, sizeof(double));
    cmds[i].bytes = calloc((size_t)n, sizeof(long));
    if (!cmds[i].ms || !cmds[i].first_ms || !cmds[i].last_ms || !cmds[i].bytes)
      die("out of memory");
  }
}

static void cmd_run(int runs, int warmup, double timeout_ms) {
  alloc_results(runs);
  int order[MAX_CMDS];
  for (int i = 0; i < ncmds; i++)
    order[i] = i;
  for (int r = 0; r < warmup + runs; r++) {
    shuffle(order, ncmds);
    for (int k = 0; k < ncmds; k++) {
      struct cmd *c = &cmds[order[k]];
      if (!run_pre(c))
        continue;
      if (c->pty)
        run_pty(c, timeout_ms, r >= warmup);
      else
        run_plain(c, timeout_ms, r >= warmup);
    }
  }
  print_results(false);
}

/* Reads until `until` was seen on c's terminal (or the deadline). */
static bool await_text(struct cmd *c, double deadline) {
  char buf[4096], tail[ERR_MAX];
  size_t tlen = 0;
  while (now_ms() < deadline) {
    struct pollfd p = {.fd = c->master, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0)
      continue;
    ssize_t n = read(c->master, buf, sizeof buf);
    if (n <= 0)
      break;
    keep_tail(tail, &tlen, buf, (size_t)n);
    if (!c->until || memmem(tail, tlen, c->until, c->until_len))
      return true;
  }
  set_error(c, "never became ready; last output: %.*s", (int)tlen, tail);
  return false;
}

static void drain(int fd, int quiet_ms) {
  char buf[4096];
  struct pollfd p = {.fd = fd, .events = POLLIN};
  while (poll(&p, 1, quiet_ms) > 0 && read(fd, buf, sizeof buf) > 0)
    ;
}

static void ping(struct cmd *c, double timeout_ms) {
  double t0 = now_ms();
  if (write(c->master, "x", 1) != 1) {
    set_error(c, "write to the terminal failed: %s", strerror(errno));
    return;
  }
  char b;
  struct pollfd p = {.fd = c->master, .events = POLLIN};
  if (poll(&p, 1, (int)timeout_ms) != 1 || read(c->master, &b, 1) != 1) {
    set_error(c, "no echo within %.0f ms", timeout_ms);
    drain(c->master, 200);
    return;
  }
  double us = (now_ms() - t0) * 1000;
  drain(c->master, 0); /* a relay may split or repeat nothing; anything extra is dropped */
  c->ms[c->n++] = us;
}

static void cmd_echo(int pings, int gap_us, double timeout_ms) {
  alloc_results(pings);
  bool ready[MAX_CMDS];
  for (int i = 0; i < ncmds; i++) {
    cmds[i].master = spawn_pty(&cmds[i], &cmds[i].pid, NULL);
    ready[i] = await_text(&cmds[i], now_ms() + timeout_ms);
    if (ready[i])
      drain(cmds[i].master, 200);
  }
  int order[MAX_CMDS];
  for (int i = 0; i < ncmds; i++)
    order[i] = i;
  for (int r = 0; r < pings; r++) {
    shuffle(order, ncmds);
    for (int k = 0; k < ncmds; k++) {
      if (!ready[order[k]])
        continue;
      ping(&cmds[order[k]], 2000);
      usleep((useconds_t)gap_us);
    }
  }
  for (int i = 0; i < ncmds; i++) {
    close(cmds[i].master); /* hangs up the terminal; what ignores that is killed (the samples stand) */
    bool timed_out = false;
    wait_deadline(cmds[i].pid, now_ms() + 3000, &timed_out);
  }
  print_results(true);
}

/* Every command at once: the wall time until the last one ended, and each one's own. */
static void cmd_burst(double timeout_ms) {
  alloc_results(1);
  pid_t pids[MAX_CMDS];
  int errfds[MAX_CMDS];
  double ends[MAX_CMDS];
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  double t0 = now_ms();
  for (int i = 0; i < ncmds; i++) {
    errfds[i] = memfd_create("timer-stderr", MFD_CLOEXEC);
    pids[i] = fork();
    if (pids[i] < 0)
      die("fork failed: %s", strerror(errno));
    if (pids[i] == 0)
      child(&cmds[i], null, null, errfds[i]);
  }
  int left = ncmds;
  while (left > 0) {
    int st;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p < 0)
      break; /* ECHILD: none left */
    if (p == 0) {
      if (now_ms() - t0 > timeout_ms)
        break;
      usleep(200);
      continue;
    }
    for (int i = 0; i < ncmds; i++) {
      if (pids[i] != p)
        continue;
      ends[i] = now_ms(), left--;
      char buf[ERR_MAX];
      ssize_t n = pread(errfds[i], buf, sizeof buf, 0);
      if (st != 0)
        describe_status(&cmds[i], st, buf, n > 0 ? (size_t)n : 0);
      else
        record(&cmds[i], ends[i] - t0, ends[i] - t0, ends[i] - t0, 0);
      pids[i] = 0;
    }
  }
  double wall = now_ms() - t0;
  for (int i = 0; i < ncmds; i++) {
    if (pids[i] <= 0)
      continue;
    bool timed_out = false;
    wait_deadline(pids[i], 0, &timed_out);
    set_error(&cmds[i], "no exit within %.0f s (killed)", timeout_ms / 1000);
  }
  print_results(false);
  printf("{\"wall_ms\":%.3f}\n", wall);
}

/* Keeps every command on its terminal, ready, until our stdin ends. */
static void cmd_hold(double timeout_ms) {
  alloc_results(1);
  printf("{\"ready\":[");
  for (int i = 0; i < ncmds; i++) {
    cmds[i].master = spawn_pty(&cmds[i], &cmds[i].pid, NULL);
    bool ok = await_text(&cmds[i], now_ms() + timeout_ms);
    printf(i ? ",%d" : "%d", ok ? (int)cmds[i].pid : -1);
  }
  printf("]}\n");
  fflush(stdout);
  char buf[256];
  while (read(0, buf, sizeof buf) > 0)
    ;
  for (int i = 0; i < ncmds; i++) {
    int st;
    if (cmds[i].pid > 0 && waitpid(cmds[i].pid, &st, WNOHANG) == cmds[i].pid) {
      set_error(&cmds[i], "ended during the hold (status %d)", st);
      cmds[i].pid = 0;
    }
  }
  for (int i = 0; i < ncmds; i++) {
    close(cmds[i].master);
    bool timed_out = false;
    int st = wait_deadline(cmds[i].pid, now_ms() + 10000, &timed_out);
    if (timed_out)
      set_error(&cmds[i], "did not end within 10 s of the hang-up (killed)");
    else if (!cmds[i].errors)
      record(&cmds[i], 0, 0, 0, 0);
    (void)st;
  }
  print_results(false);
}

int main(int argc, char **argv) {
  if (argc < 2)
    die("usage: timer run|echo|burst|hold [--runs N] [--warmup W] [--pings N] [--gap-us U] [--timeout S] [--seed X] [--spec FILE]");
  int runs = 20, warmup = 2, pings = 200, gap_us = 2000;
  double timeout_s = 60;
  unsigned seed = (unsigned)time(NULL);
  const char *spec = NULL;
  for (int i = 2; i + 1 < argc; i += 2) {
    long v = strtol(argv[i + 1], NULL, 10);
    if (!strcmp(argv[i], "--runs")) runs = (int)v;
    else if (!strcmp(argv[i], "--warmup")) warmup = (int)v;
    else if (!strcmp(argv[i], "--pings")) pings = (int)v;
    else if (!strcmp(argv[i], "--gap-us")) gap_us = (int)v;
    else if (!strcmp(argv[i], "--timeout")) timeout_s = (double)v;
    else if (!strcmp(argv[i], "--seed")) seed = (unsigned)v;
    else if (!strcmp(argv[i], "--spec")) spec = argv[i + 1];
    else die("unknown option %s", argv[i]);
  }
  if (runs < 1 || warmup < 0 || pings < 1 || gap_us < 0 || timeout_s <= 0)
    die("bad numbers");
  srand(seed);
  signal(SIGPIPE, SIG_IGN);
  FILE *in = spec ? fopen(spec, "r") : stdin;
  if (!in)
    die("can't read %s: %s", spec, strerror(errno));
  read_spec(in);
  if (!strcmp(argv[1], "run"))
    cmd_run(runs, warmup, timeout_s * 1000);
  else if (!strcmp(argv[1], "echo"))
    cmd_echo(pings, gap_us, timeout_s * 1000);
  else if (!strcmp(argv[1], "burst"))
    cmd_burst(timeout_s * 1000);
  else if (!strcmp(argv[1], "hold"))
    cmd_hold(timeout_s * 1000);
  else
    die("unknown mode %s", argv[1]);
  return 0;
}
