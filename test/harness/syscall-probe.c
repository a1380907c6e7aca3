/* syscall-probe: which system calls the seccomp filter in force refuses (a test
 * tool, compiled by the tests with gcc; never installed).
 *
 *   syscall-probe [--live] [CASE...]   each case (default: all), one line each:
 *                                      "CASE VERDICT DETAIL", VERDICT one of
 *                                      refused | allowed | killed | skipped | error
 *   syscall-probe --persona VALUE...   the oracle for personality(VALUE), one
 *                                      "VALUE VERDICT DETAIL" line each
 *   syscall-probe [--live] --mkdir PATH  mkdir(PATH) through the oracle (or live):
 *                                      shows the oracle never runs the call
 *   syscall-probe --bench N            nanoseconds per getpid over N calls
 *
 * The oracle (the default) never executes the call it asks about. In a forked
 * child it stacks a second filter on top of whatever is in force, returning
 * SECCOMP_RET_TRACE for every call but exit and exit_group, then makes the
 * call and exits with its errno. With no tracer attached the kernel skips a
 * TRACE'd call and answers ENOSYS. A filter's ERRNO outranks TRACE and KILL
 * outranks both (seccomp(2), "Filter return values"), so: EPERM means the
 * filter under test refused the call, ENOSYS that it let it through, SIGSYS
 * that it killed the process. clone3, which the filter refuses with ENOSYS,
 * is asked live instead with a size the kernel rejects before reading
 * anything (EINVAL when allowed).
 *
 * --live makes the harmless real form of each case that has one (keyctl on
 * the session keyring, unshare of a user namespace, TIOCSTI on a pty the probe
 * made, getpid through int 0x80 or the x32 ABI, ...) in a forked child, to show
 * the effect: "allowed" then carries "ok" or the kernel's own errno. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "syscall-probe knows the x86-64 ABIs only"
#endif

#define SETUP_FAILED 125 /* the probe's own step failed: not a verdict */
#define NR_INT80 (-2L)   /* getpid through the i386 entry (int 0x80) */
#define X32_BIT 0x40000000L

typedef long (*live_fn)(void);

/* One question: a call with its arguments, and its harmless real form. */
struct probe {
  const char *name; /* "family/what" */
  long nr;          /* the call, or NR_INT80 */
  uintptr_t a[6];   /* its arguments (pointers are never read by the oracle) */
  live_fn live;     /* 0 on success or an errno; -1 if a setup step failed */
  int refusal;      /* the errno of a refusal (EPERM; ENOSYS for clone3) */
  bool always_live; /* the oracle can't tell the refusal from "allowed" */
};

static char scratch[4096] __attribute__((aligned(4096)));

/* The result of a raw call as 0 or an errno. */
static long rc(long r) { return r < 0 ? errno : 0; }

static long int80_getpid(void) {
  long r = 20; /* __NR_getpid on i386 */
  __asm__ volatile("int $0x80"
                   : "+a"(r)
                   :
                   : "memory");
  if (r < 0 && r > -4096) {
    errno = (int)-r;
    return -1;
  }
  return r;
}

/* A pty pair from this process's devpts, the slave our controlling terminal. */
static int own_pty(void) {
  int m = posix_openpt(O_RDWR | O_NOCTTY);
  if (m < 0 || grantpt(m) || unlockpt(m))
    return -1;
  int s = open(ptsname(m), O_RDWR);
  if (s < 0 || setsid() < 0 || ioctl(s, TIOCSCTTY, 0) < 0)
    return -1;
  return s;
}

static long live_tty(unsigned long cmd) {
  int s = own_pty();
  if (s < 0)
    return -1;
  char c = 'x';
  return rc(syscall(SYS_ioctl, s, cmd, &c));
}

static long live_tiocsti(void) { return live_tty(TIOCSTI); }
static long live_tiocsti_high(void) { return live_tty((0x123UL << 32) | TIOCSTI); }
static long live_tioclinux(void) { return live_tty(TIOCLINUX); }
static long live_keyctl(void) { return rc(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)); }
static long live_add_key(void) {
  return rc(syscall(SYS_add_key, "user", "cellsh-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
}
static long live_unshare_user(void) { return rc(syscall(SYS_unshare, CLONE_NEWUSER)); }
static long live_clone_user(void) {
  long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0)
    _exit(0);
  if (pid < 0)
    return errno;
  waitpid((pid_t)pid, NULL, 0);
  return 0;
}
static long live_setns(void) {
  int fd = open("/proc/self/ns/user", O_RDONLY);
  return fd < 0 ? -1 : rc(syscall(SYS_setns, fd, CLONE_NEWUSER)); /* own namespace: EINVAL */
}
static long live_fsopen(void) {
  syscall(SYS_unshare, CLONE_NEWUSER | CLONE_NEWNS); /* where mounting is possible at all */
  return rc(syscall(SYS_fsopen, "tmpfs", 0));
}
static long live_clone3(void) { return rc(syscall(SYS_clone3, NULL, 0)); } /* size 0: EINVAL, nothing read */
static long live_int80(void) { return rc(int80_getpid()); }
static long live_x32(void) { return rc(syscall(X32_BIT | SYS_getpid)); }
static long live_personality(void) { return rc(syscall(SYS_personality, 0x0040000)); }
static long live_linux32(void) { return rc(syscall(SYS_personality, 0x8)); }
static long live_name_to_handle(void) {
  struct {
    unsigned bytes;
    int type;
  } fh = {0, 0};
  int mnt;
  return rc(syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &fh, &mnt, 0)); /* EOVERFLOW: how big */
}
static long live_clock_adjtime(void) {
  struct timex tx = {.modes = 0}; /* a read: the clock's state */
  return rc(syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
}
static long live_userfaultfd(void) { return rc(syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */)); }
static long live_io_uring(void) {
  static char params[120];
  return rc(syscall(SYS_io_uring_setup, 1, params));
}
static long live_vsock(void) { return rc(syscall(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0)); }
static long live_alg(void) { return rc(syscall(SYS_socket, 38 /* AF_ALG */, SOCK_SEQPACKET, 0)); }
static long live_ptrace(void) { return rc(syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0)); }
static long live_vm_readv(void) {
  char there = 'x', here = 0;
  struct iovec l = {&here, 1}, r = {&there, 1};
  return rc(syscall(SYS_process_vm_readv, getpid(), &l, 1, &r, 1, 0));
}
static long live_kcmp(void) { return rc(syscall(SYS_kcmp, getpid(), getpid(), 1 /* KCMP_VM */, 0, 0)); }
static long live_pidfd_getfd(void) {
  long pidfd = syscall(SYS_pidfd_open, getpid(), 0);
  return pidfd < 0 ? -1 : rc(syscall(SYS_pidfd_getfd, pidfd, 0, 0));
}
static long live_sysfs(void) { return rc(syscall(SYS_sysfs, 3)); }
static long live_getpid(void) { return rc(syscall(SYS_getpid)); }
static const char *mkdir_path;
static long live_mkdir(void) { return rc(syscall(SYS_mkdir, mkdir_path, 0700)); }

#define U(x) ((uintptr_t)(x))
#define CALL(n, nr, ...) \
  { n, nr, {__VA_ARGS__}, NULL, EPERM, false }
#define LIVE(n, fn, nr, ...) \
  { n, nr, {__VA_ARGS__}, fn, EPERM, false }

static const struct probe probes[] = {
    LIVE("keyring/keyctl", live_keyctl, SYS_keyctl, KEYCTL_GET_KEYRING_ID, U(KEY_SPEC_SESSION_KEYRING)),
    LIVE("keyring/add_key", live_add_key, SYS_add_key, U("user"), U("cellsh-probe"), U("x"), 1, U(KEY_SPEC_PROCESS_KEYRING)),
    CALL("keyring/request_key", SYS_request_key, U("user"), U("cellsh-probe"), 0, U(KEY_SPEC_PROCESS_KEYRING)),
    CALL("bpf-perf/bpf", SYS_bpf, 5, 0, 0),
    CALL("bpf-perf/perf_event_open", SYS_perf_event_open, U(scratch), 0, U(-1), U(-1), 0),
    LIVE("userfaultfd/userfaultfd", live_userfaultfd, SYS_userfaultfd, O_CLOEXEC),
    CALL("kernel-load/kexec_load", SYS_kexec_load, 0, 0, 0, 0),
    CALL("kernel-load/kexec_file_load", SYS_kexec_file_load, U(-1), U(-1), 0, 0, 0),
    CALL("kernel-load/init_module", SYS_init_module, 0, 0, U("")),
    CALL("kernel-load/finit_module", SYS_finit_module, U(-1), U(""), 0),
    CALL("kernel-load/delete_module", SYS_delete_module, U("cellsh_probe"), O_NONBLOCK),
    CALL("handles/open_by_handle_at", SYS_open_by_handle_at, U(AT_FDCWD), U(scratch), O_RDONLY),
    LIVE("handles/name_to_handle_at", live_name_to_handle, SYS_name_to_handle_at, U(AT_FDCWD), U("/"), U(scratch), U(scratch + 64), 0),
    LIVE("io_uring/io_uring_setup", live_io_uring, SYS_io_uring_setup, 1, U(scratch)),
    CALL("io_uring/io_uring_enter", SYS_io_uring_enter, U(-1), 0, 0, 0, 0, 0),
    CALL("io_uring/io_uring_register", SYS_io_uring_register, U(-1), 0, 0, 0),
    CALL("host-switches/acct", SYS_acct, 0),
    CALL("host-switches/swapon", SYS_swapon, U("/nonexistent"), 0),
    CALL("host-switches/swapoff", SYS_swapoff, U("/nonexistent")),
    CALL("host-switches/reboot", SYS_reboot, 0, 0, 0, 0),
    CALL("clock/settimeofday", SYS_settimeofday, 0, 0),
    CALL("clock/clock_settime", SYS_clock_settime, CLOCK_REALTIME, U(scratch)),
    LIVE("clock/clock_adjtime", live_clock_adjtime, SYS_clock_adjtime, CLOCK_REALTIME, U(scratch)),
    CALL("ioport/iopl", SYS_iopl, 0),
    CALL("ioport/ioperm", SYS_ioperm, 0, 0, 0),
    CALL("host-wide/quotactl", SYS_quotactl, 0, 0, 0, 0),
    CALL("host-wide/quotactl_fd", SYS_quotactl_fd, U(-1), 0, 0, 0),
    CALL("host-wide/syslog", SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, 0, 0),
    CALL("host-wide/lookup_dcookie", SYS_lookup_dcookie, 0, 0, 0),
    CALL("host-wide/vhangup", SYS_vhangup),
    LIVE("tty/TIOCSTI", live_tiocsti, SYS_ioctl, 0, TIOCSTI, U(scratch)),
    LIVE("tty/TIOCSTI-high-bits", live_tiocsti_high, SYS_ioctl, 0, (0x123UL << 32) | TIOCSTI, U(scratch)),
    LIVE("tty/TIOCLINUX", live_tioclinux, SYS_ioctl, 0, TIOCLINUX, U(scratch)),
    CALL("tty/TIOCLINUX-high-bits", SYS_ioctl, 0, (0xffffffffUL << 32) | TIOCLINUX, U(scratch)),
    LIVE("personality/addr-no-randomize", live_personality, SYS_personality, 0x0040000),
    CALL("personality/addr-no-randomize-high-bits", SYS_personality, (1UL << 32) | 0x0040000),
    CALL("personality/read-implies-exec", SYS_personality, 0x0400000),
    CALL("personality/bsd", SYS_personality, 6),
    CALL("personality/almost-query", SYS_personality, 0xfffffffe),
    LIVE("userns/unshare", live_unshare_user, SYS_unshare, CLONE_NEWUSER),
    CALL("userns/unshare-with-mount-ns", SYS_unshare, CLONE_NEWUSER | CLONE_NEWNS),
    LIVE("userns/clone", live_clone_user, SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0),
    LIVE("setns/setns", live_setns, SYS_setns, U(-1), 0),
    CALL("mount/mount", SYS_mount, U("none"), U("/"), U("tmpfs"), 0, 0),
    CALL("mount/umount2", SYS_umount2, U("/"), 0),
    CALL("mount/pivot_root", SYS_pivot_root, U("/"), U("/")),
    LIVE("mount/fsopen", live_fsopen, SYS_fsopen, U("tmpfs"), 0),
    CALL("mount/fsconfig", SYS_fsconfig, U(-1), 0, 0, 0, 0),
    CALL("mount/fsmount", SYS_fsmount, U(-1), 0, 0),
    CALL("mount/fspick", SYS_fspick, U(AT_FDCWD), U("/"), 0),
    CALL("mount/move_mount", SYS_move_mount, U(-1), U(""), U(-1), U(""), 0),
    CALL("mount/open_tree", SYS_open_tree, U(AT_FDCWD), U("/"), 0),
    CALL("mount/mount_setattr", SYS_mount_setattr, U(AT_FDCWD), U("/"), 0, 0, 0),
    CALL("mount/open_tree_attr", 467, U(AT_FDCWD), U("/"), 0, 0, 0),
    {"clone3/clone3", SYS_clone3, {0, 0}, live_clone3, ENOSYS, true},
    LIVE("sockets/vsock", live_vsock, SYS_socket, 40, SOCK_STREAM, 0),
    CALL("sockets/vsock-high-bits", SYS_socket, (1UL << 32) | 40, SOCK_STREAM, 0),
    LIVE("sockets/alg", live_alg, SYS_socket, 38, SOCK_SEQPACKET, 0),
    LIVE("abi/i386-getpid", live_int80, NR_INT80),
    LIVE("abi/x32-getpid", live_x32, X32_BIT | SYS_getpid),
    /* strict */
    LIVE("ptrace/ptrace", live_ptrace, SYS_ptrace, 0, 0, 0, 0),
    LIVE("ptrace/process_vm_readv", live_vm_readv, SYS_process_vm_readv, 1, 0, 0, 0, 0, 0),
    CALL("ptrace/process_vm_writev", SYS_process_vm_writev, 1, 0, 0, 0, 0, 0),
    LIVE("ptrace/kcmp", live_kcmp, SYS_kcmp, 1, 1, 1, 0, 0),
    LIVE("ptrace/pidfd_getfd", live_pidfd_getfd, SYS_pidfd_getfd, U(-1), 0, 0),
    CALL("ptrace/process_madvise", SYS_process_madvise, U(-1), 0, 0, 0, 0),
    CALL("namespaces/unshare-mount", SYS_unshare, CLONE_NEWNS),
    CALL("namespaces/unshare-net", SYS_unshare, CLONE_NEWNET),
    CALL("namespaces/unshare-pid", SYS_unshare, CLONE_NEWPID),
    CALL("namespaces/unshare-uts", SYS_unshare, CLONE_NEWUTS),
    CALL("namespaces/unshare-ipc", SYS_unshare, CLONE_NEWIPC),
    CALL("namespaces/unshare-cgroup", SYS_unshare, CLONE_NEWCGROUP),
    CALL("namespaces/unshare-time", SYS_unshare, 0x80 /* CLONE_NEWTIME */),
    CALL("namespaces/clone-pid", SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0),
    CALL("namespaces/clone-net", SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0),
    LIVE("personality-strict/linux32", live_linux32, SYS_personality, 0x8),
    CALL("personality-strict/uname26", SYS_personality, 0x20000),
    CALL("personality-strict/uname26-linux32", SYS_personality, 0x20008),
    CALL("legacy/uselib", SYS_uselib, U("/nonexistent")),
    CALL("legacy/ustat", SYS_ustat, 0, U(scratch)),
    LIVE("legacy/sysfs", live_sysfs, SYS_sysfs, 3),
    /* never refused */
    LIVE("control/getpid", live_getpid, SYS_getpid),
    CALL("control/ioctl-TIOCGWINSZ", SYS_ioctl, 0, TIOCGWINSZ, U(scratch)),
    CALL("control/ioctl-next-to-TIOCSTI", SYS_ioctl, 0, TIOCSTI + 1, U(scratch)),
    CALL("control/clone-plain", SYS_clone, SIGCHLD, 0, 0, 0, 0),
    CALL("control/unshare-files", SYS_unshare, CLONE_FILES),
    CALL("control/socket-unix", SYS_socket, AF_UNIX, SOCK_STREAM, 0),
    CALL("control/socket-inet", SYS_socket, AF_INET, SOCK_STREAM, 0),
    CALL("control/personality-linux", SYS_personality, 0),
    CALL("control/personality-query", SYS_personality, 0xffffffff),
    CALL("control/adjtimex", SYS_adjtimex, U(scratch)),
    CALL("control/seccomp", SYS_seccomp, 0, 0, 0),
};

/* Allow exit and exit_group, TRACE the rest: the oracle's filter. */
static int trace_everything(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 4),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
  };
  struct sock_fprog prog = {.len = sizeof f / sizeof *f, .filter = f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return -1;
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* Run fn(arg) in a child; its exit code or the signal that ended it. */
struct outcome {
  int code, sig;
};
static struct outcome in_child(long (*fn)(const void *), const void *arg) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    perror("syscall-probe: fork");
    exit(2);
  }
  if (pid == 0) {
    long r = fn(arg);
    _exit(r < 0 ? SETUP_FAILED : (int)r);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return (struct outcome){WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0};
}

/* In the child: our filter on top, then the call (nothing else runs in between). */
static long oracle(const void *arg) {
  const struct probe *p = arg;
  if (trace_everything() != 0)
    return -1;
  long r = p->nr == NR_INT80 ? int80_getpid()
                             : syscall(p->nr, p->a[0], p->a[1], p->a[2], p->a[3], p->a[4], p->a[5]);
  return r < 0 ? errno : 0;
}

static long live(const void *arg) {
  const struct probe *p = arg;
  return p->live();
}

static const char *errname(int e) {
  const char *n = strerrorname_np(e);
  return n ? n : "E?";
}

static void report(const char *name, struct outcome o, int refusal, bool via_oracle) {
  if (o.sig)
    printf("%s %s %s\n", name, o.sig == SIGSYS ? "killed" : "error", sigabbrev_np(o.sig) ? sigabbrev_np(o.sig) : "?");
  else if (o.code == SETUP_FAILED)
    printf("%s error setup\n", name);
  else if (o.code == refusal)
    printf("%s refused %s\n", name, errname(o.code));
  else if (via_oracle && o.code != ENOSYS)
    printf("%s error %s\n", name, o.code ? errname(o.code) : "ran");
  else
    printf("%s allowed %s\n", name, via_oracle ? "ENOSYS" : o.code ? errname(o.code)
                                                                   : "ok");
}

static void run_probe(const struct probe *p, bool want_live) {
  if (want_live || p->always_live) {
    if (!p->live)
      printf("%s skipped no-harmless-form\n", p->name);
    else
      report(p->name, in_child(live, p), p->refusal, false);
  } else {
    report(p->name, in_child(oracle, p), p->refusal, true);
  }
}

/* getpid: a call the kernel's per-call cache lets through without running the
 * filter (Linux 5.11+); ioctl on a bad fd: one whose arguments the filter reads. */
static void bench(long n) {
  const char *names[] = {"getpid", "ioctl"};
  for (int k = 0; k < 2; k++) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
      k ? syscall(SYS_ioctl, -1, TIOCGWINSZ, scratch) : syscall(SYS_getpid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%s %.1f ns\n", names[k], ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n);
  }
}

int main(int argc, char **argv) {
  int i = 1;
  bool want_live = i < argc && !strcmp(argv[i], "--live") ? (i++, true) : false;
  if (i < argc && !strcmp(argv[i], "--bench")) {
    bench(i + 1 < argc ? atol(argv[i + 1]) : 1000000);
    return 0;
  }
  if (i < argc && !strcmp(argv[i], "--mkdir") && i + 1 < argc) {
    mkdir_path = argv[i + 1];
    struct probe p = {"mkdir", SYS_mkdir, {U(mkdir_path), 0700}, live_mkdir, EPERM, false};
    run_probe(&p, want_live);
    return 0;
  }
  if (i < argc && !strcmp(argv[i], "--persona")) {
    for (i++; i < argc; i++) {
      struct probe p = {argv[i], SYS_personality, {strtoul(argv[i], NULL, 0)}, NULL, EPERM, false};
      run_probe(&p, false);
    }
    return 0;
  }
  size_t n = sizeof probes / sizeof *probes;
  for (size_t k = 0; k < n; k++) {
    bool named = i >= argc;
    for (int j = i; j < argc && !named; j++)
      named = !strcmp(argv[j], probes[k].name);
    if (named)
      run_probe(&probes[k], want_live);
  }
  return 0;
}
