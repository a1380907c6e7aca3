/* seccomp-gen: writes the helper's seccomp programs as C arrays, at build time.
 *
 * Linked against Debian's libseccomp and run by the Makefile; never installed.
 * The setuid helper embeds what this writes and neither links libseccomp nor
 * parses anything at run time (SA-29 in docs/threat-model.md).
 *
 *   seccomp-gen HEADER [LISTING]   HEADER: the programs as struct sock_filter
 *                                  arrays; LISTING: libseccomp's readable form
 *                                  of each (pseudo filter code), for review
 *
 * Every program allows by default and denies what the lists below name, each
 * group with its reason (docs/seccomp.md is the longer story). A denied call
 * answers EPERM, clone3 ENOSYS (so libc falls back to clone, whose flags a
 * filter can read), and a call from a foreign architecture or ABI (i386 via
 * int 0x80, x32 numbers on x86-64) kills the process. Arguments are compared as
 * the kernel reads them: ioctl's request and personality's persona are 32-bit,
 * so only their low halves count (CVE-2019-10063: TIOCSTI with high bits set
 * got past a filter that compared all 64). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#ifndef CLONE_NEWTIME /* Linux 5.6; unshare only (in clone it is a CSIGNAL bit) */
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif

/* clone's flags are its first argument, except on s390 (second). */
#if defined(__s390__) || defined(__s390x__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

#define LOW32 0xffffffffull /* the bits of an argument the kernel reads as a 32-bit int */
#define MAX_CALLS 13        /* per group; a full group needs no NULL end */

/* Calls denied together, for one reason. */
struct group {
  const char *why;
  const char *calls[MAX_CALLS];
};

/* Denied by every profile but unconfined. */
static const struct group always[] = {
    {"keyrings are not namespaced: keys reach across users and containers", {"keyctl", "add_key", "request_key"}},
    {"eBPF and perf events: large kernel attack surface, not namespaced", {"bpf", "perf_event_open"}},
    {"userfaultfd pauses the kernel on a page fault, the usual tool to win kernel races",
     {"userfaultfd"}},
    {"loading another kernel or kernel modules", {"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module"}},
    {"file handles open files by number, around the path walk (the 2014 \"shocker\" escape)",
     {"open_by_handle_at", "name_to_handle_at"}},
    {"io_uring's operations are not system calls, so no filter sees them; many kernel bugs",
     {"io_uring_setup", "io_uring_enter", "io_uring_register"}},
    {"host-wide switches: process accounting, swap, reboot", {"acct", "swapon", "swapoff", "reboot"}},
    {"the system clock is the host's (no namespace)", {"settimeofday", "stime", "clock_settime", "clock_adjtime"}},
    {"raw I/O port access", {"iopl", "ioperm"}},
    {"host-wide: disk quotas, the kernel log, profiler cookies, hanging up the terminal",
     {"quotactl", "quotactl_fd", "syslog", "lookup_dcookie", "vhangup"}},
};

/* Denied unless nested user namespaces are allowed (and always by strict): the
 * user holds CAP_SYS_ADMIN only inside a user namespace of their own, so these
 * do nothing useful outside one, and inside one they reach filesystem code
 * written for root (CVE-2022-0185: fsconfig). */
static const struct group nested_only[] = {
    {"joining namespaces", {"setns"}},
    {"the mount family", {"mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr", "open_tree_attr"}},
};

/* Added by strict. */
static const struct group strict_only[] = {
    {"reading or steering another process: debuggers and strace stop working",
     {"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise"}},
    {"legacy calls nothing current needs (a.out libraries, old filesystem queries)", {"uselib", "ustat", "sysfs"}},
};

/* Calls newer than the libseccomp a distribution may ship, by their number on
 * the architectures that share the unified numbering of new calls (424 and up). */
static const struct {
  const char *name;
  int nr;
} newer[] = {{"open_tree_attr", 467}};

/* Persona values runtimes allow (Docker, podman): PER_LINUX, PER_LINUX32 (32-bit
 * uname), UNAME26 alone and with PER_LINUX32, and 0xffffffff, which only queries. */
static const uint32_t persona_default[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
static const uint32_t persona_strict[] = {0x0, 0xffffffff};

#define NS_FLAGS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP)

/* The programs, in the order the header lists them. */
enum profile { P_DEFAULT,
               P_DEFAULT_NESTED,
               P_STRICT,
               P_NAT,
               P_NAT_API,
               P_COUNT };
static const char *const prog_names[P_COUNT] = {"seccomp_default", "seccomp_default_nested", "seccomp_strict",
                                                "seccomp_nat", "seccomp_nat_api"};
static const char *const prog_titles[P_COUNT] = {
    "default: the runtimes' deny list, no nested user namespaces, no mounts",
    "default with nested_userns: as default, but user namespaces, setns and mounts are allowed",
    "strict: default, plus other processes, every namespace and most personas",
    "nat: network: private's NAT (nat.c): sockets of IPv4 and IPv6 only, no io_uring",
    "nat with its API: as nat, and Unix sockets, for the socket that publishes ports"};

static void fail(const char *what, int rc) {
  fprintf(stderr, "seccomp-gen: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
  exit(1);
}

static void add(scmp_filter_ctx ctx, uint32_t action, int nr, const char *what, unsigned n,
                const struct scmp_arg_cmp *cmp) {
  int rc = seccomp_rule_add_exact_array(ctx, action, nr, n, cmp);
  if (rc < 0)
    fail(what, rc);
}

/* The number of a call on this architecture, or -1 if it has none here (libseccomp
 * knows the name for other architectures only). An unknown name stops the build:
 * a typo must not silently leave a call allowed. */
static int syscall_nr(const char *name) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr >= 0)
    return nr;
  if (nr != __NR_SCMP_ERROR)
    return -1;
  uint32_t arch = seccomp_arch_native();
  for (size_t i = 0; i < sizeof newer / sizeof *newer; i++)
    if (!strcmp(name, newer[i].name) && (arch == SCMP_ARCH_X86_64 || arch == SCMP_ARCH_AARCH64))
      return newer[i].nr;
  fprintf(stderr, "seccomp-gen: libseccomp %u.%u doesn't know the system call \"%s\"\n",
          seccomp_version()->major, seccomp_version()->minor, name);
  exit(1);
}

static void deny_groups(scmp_filter_ctx ctx, const struct group *g, size_t n) {
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < MAX_CALLS && g[i].calls[k]; k++) {
      int nr = syscall_nr(g[i].calls[k]);
      if (nr >= 0)
        add(ctx, SCMP_ACT_ERRNO(EPERM), nr, g[i].calls[k], 0, NULL);
    }
}

/* Deny call when its 32-bit argument arg holds any value but those in keep
 * (ascending). The gaps between them are covered by aligned power-of-two blocks
 * of values, one masked compare each: libseccomp compares an argument once per
 * rule, so "not this and not that" has to be spelled out as ranges. */
static void deny_all_but(scmp_filter_ctx ctx, int nr, const char *what, unsigned arg, const uint32_t *keep,
                         size_t n_keep) {
  uint64_t from = 0;
  for (size_t i = 0; i <= n_keep; i++) {
    uint64_t to = i < n_keep ? keep[i] : LOW32 + 1; /* the gap is [from, to) */
    while (from < to) {
      uint64_t size = 1;
      while (from % (size * 2) == 0 && from + size * 2 <= to && size * 2 <= LOW32 + 1)
        size *= 2;
      struct scmp_arg_cmp cmp = {arg, SCMP_CMP_MASKED_EQ, LOW32 & ~(size - 1), from};
      add(ctx, SCMP_ACT_ERRNO(EPERM), nr, what, 1, &cmp);
      from += size;
    }
    from = i < n_keep ? (uint64_t)keep[i] + 1 : from;
  }
}

/* Deny call when any of flags is set in argument arg (one rule per flag: a
 * rule's compares are "and", rules are "or"). */
static void deny_flags(scmp_filter_ctx ctx, int nr, const char *what, unsigned arg, uint64_t flags) {
  for (uint64_t bit = 1; bit <= flags; bit <<= 1)
    if (flags & bit) {
      struct scmp_arg_cmp cmp = {arg, SCMP_CMP_MASKED_EQ, bit, bit};
      add(ctx, SCMP_ACT_ERRNO(EPERM), nr, what, 1, &cmp);
    }
}

/* Deny call when its 32-bit argument arg equals value, whatever the high half holds. */
static void deny_value(scmp_filter_ctx ctx, int nr, const char *what, unsigned arg, uint32_t value) {
  struct scmp_arg_cmp cmp = {arg, SCMP_CMP_MASKED_EQ, LOW32, value};
  add(ctx, SCMP_ACT_ERRNO(EPERM), nr, what, 1, &cmp);
}

static scmp_filter_ctx build(enum profile p) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx)
    fail("seccomp_init", ENOMEM);
  int rc;
  /* Only the native architecture is in the filter, so i386 and x32 calls take the
   * bad-architecture action; killing the whole process (not one thread) leaves
   * nothing half-running. */
  if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0)
    fail("setting the bad-architecture action", rc);
  /* A binary tree over call numbers: every allowed call (nearly all of them)
   * passes a handful of compares instead of one per rule. */
  if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0)
    fail("asking for a binary tree", rc);

  if (p == P_NAT || p == P_NAT_API) {
    /* The NAT runs in the host's network namespace: no netlink (sock_diag lists
     * every socket of the host), no packet sockets, and no Unix sockets (the
     * host's abstract ones are per network namespace) but where its API socket
     * is needed; io_uring would make sockets behind the filter's back. */
    static const uint32_t inet[] = {AF_INET, AF_INET6}, with_unix[] = {AF_UNIX, AF_INET, AF_INET6};
    if (p == P_NAT)
      deny_all_but(ctx, SCMP_SYS(socket), "socket", 0, inet, 2);
    else
      deny_all_but(ctx, SCMP_SYS(socket), "socket", 0, with_unix, 3);
    add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(io_uring_setup), "io_uring_setup", 0, NULL);
    return ctx;
  }

  deny_groups(ctx, always, sizeof always / sizeof *always);
  if (p != P_DEFAULT_NESTED)
    deny_groups(ctx, nested_only, sizeof nested_only / sizeof *nested_only);
  if (p == P_STRICT)
    deny_groups(ctx, strict_only, sizeof strict_only / sizeof *strict_only);

  /* Faking terminal input (TIOCSTI) or a console selection paste (TIOCLINUX)
   * into a terminal outside the container (SA-31; Linux 6.1 has neither
   * dev.tty.legacy_tiocsti nor 6.7's TIOCLINUX capability check). */
  deny_value(ctx, SCMP_SYS(ioctl), "ioctl TIOCSTI", 1, TIOCSTI);
  deny_value(ctx, SCMP_SYS(ioctl), "ioctl TIOCLINUX", 1, TIOCLINUX);

  /* clone3 passes its flags behind a pointer no filter can read: ENOSYS makes
   * glibc (2.34+) fall back to clone, whose flags are checked below. */
  add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), "clone3", 0, NULL);

  /* New namespaces: none under strict; under default no user namespace (every
   * other kind needs a capability the user holds only inside one). */
  uint64_t ns = p == P_STRICT ? NS_FLAGS : p == P_DEFAULT ? CLONE_NEWUSER
                                                          : 0;
  deny_flags(ctx, SCMP_SYS(unshare), "unshare", 0, p == P_STRICT ? ns | CLONE_NEWTIME : ns);
  deny_flags(ctx, SCMP_SYS(clone), "clone", CLONE_FLAGS_ARG, ns);

  /* Execution domains other than Linux change how the kernel reads a process
   * (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, other ABIs). */
  if (p == P_STRICT)
    deny_all_but(ctx, SCMP_SYS(personality), "personality", 0, persona_strict,
                 sizeof persona_strict / sizeof *persona_strict);
  else
    deny_all_but(ctx, SCMP_SYS(personality), "personality", 0, persona_default,
                 sizeof persona_default / sizeof *persona_default);

  /* Sockets that leave the container's network: vsock talks to the hypervisor
   * and other VMs and is not network-namespaced before Linux 7.0 (network: none
   * would not hold); AF_ALG is the kernel crypto API, a long line of bugs and
   * no use on a login host (Docker denies both). Through socketcall (i386) the
   * family is behind a pointer, but i386 is killed anyway. */
  deny_value(ctx, SCMP_SYS(socket), "socket AF_VSOCK", 0, AF_VSOCK);
  deny_value(ctx, SCMP_SYS(socket), "socket AF_ALG", 0, AF_ALG);
  return ctx;
}

/* The program libseccomp compiles from ctx, as raw instructions. */
static struct sock_filter *export_bpf(scmp_filter_ctx ctx, size_t *count) {
  FILE *tmp = tmpfile();
  if (!tmp)
    fail("creating a temporary file", errno);
  int rc = seccomp_export_bpf(ctx, fileno(tmp));
  if (rc < 0)
    fail("exporting the program", rc);
  /* libseccomp wrote to the fd, behind the FILE's back: seek to learn the size. */
  long size = fseek(tmp, 0, SEEK_END) == 0 ? ftell(tmp) : -1;
  if (size <= 0 || size % (long)sizeof(struct sock_filter) != 0)
    fail("reading the program back", EIO);
  *count = (size_t)size / sizeof(struct sock_filter);
  /* The kernel takes at most BPF_MAXINSNS instructions per program. */
  if (*count > BPF_MAXINSNS)
    fail("the program is longer than the kernel takes", E2BIG);
  struct sock_filter *prog = malloc((size_t)size);
  rewind(tmp);
  if (!prog || fread(prog, 1, (size_t)size, tmp) != (size_t)size)
    fail("reading the program back", EIO);
  fclose(tmp);
  return prog;
}

static void write_prog(FILE *out, enum profile p, const struct sock_filter *prog, size_t count) {
  fprintf(out, "\n/* %s (%zu instructions) */\nstatic const struct sock_filter %s[] = {\n", prog_titles[p], count,
          prog_names[p]);
  for (size_t i = 0; i < count; i++)
    fprintf(out, "    {0x%04x, %3u, %3u, 0x%08x},\n", prog[i].code, prog[i].jt, prog[i].jf, prog[i].k);
  fprintf(out, "};\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: seccomp-gen HEADER [LISTING]\n");
    return 2;
  }
  FILE *out = fopen(argv[1], "w");
  FILE *listing = argc == 3 ? fopen(argv[2], "w") : NULL;
  if (!out || (argc == 3 && !listing))
    fail(argc == 3 && out ? argv[2] : argv[1], errno);
  const struct scmp_version *v = seccomp_version();
  fprintf(out, "/* The helper's seccomp programs, written by seccomp-gen.c with libseccomp %u.%u.%u\n"
               " * for this machine's architecture: build output, never edit or commit it. */\n"
               "#include <linux/filter.h>\n",
          v->major, v->minor, v->micro);
  for (enum profile p = 0; p < P_COUNT; p++) {
    scmp_filter_ctx ctx = build(p);
    size_t count;
    struct sock_filter *prog = export_bpf(ctx, &count);
    write_prog(out, p, prog, count);
    if (listing) {
      fprintf(listing, "# %s: %s\n", prog_names[p], prog_titles[p]);
      fflush(listing);
      int rc = seccomp_export_pfc(ctx, fileno(listing));
      if (rc < 0)
        fail("writing the listing", rc);
    }
    free(prog);
    seccomp_release(ctx);
  }
  if (fclose(out) != 0 || (listing && fclose(listing) != 0))
    fail("writing the output", errno);
  return 0;
}
