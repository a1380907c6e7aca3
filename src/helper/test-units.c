/* TAP unit tests for the helper's pure functions: argv grammar, environment
 * allowlist, compiled-policy parser and validators, audit-log escaping.
 * Built with ASan and UBSan, never installed. For the TypeScript side's
 * contract tests (test/unit/contract), it also runs one input through one
 * parser and prints what it read:
 *
 *   test-units parse-policy FILE UID...  the record policy.c reads for each UID, or
 *                                        its error (each after the first after "--")
 *   test-units parse-args ARG...         the request parse_args reads, or its error
 *   test-units parse-args-batch          the same for each line of stdin, its words
 *                                        separated by 0x1f (each result ends "--")
 *   test-units parse-started MESSAGE     what the agent relay reads of a "started" message
 *   test-units contract                  the contract's values as compiled in
 *   test-units drift FILE MADE NOW...    for a container made from record MADE, what
 *                                        drift.c says of each record NOW: "pending
 *                                        LIST" and "access 0|1" (each after "--") */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-relay.h"
#include "args.h"
#include "drift.h"
#include "env.h"
#include "log.h"
#include "policy-build.h"
#include "policy.h"
#include "util.h"

static int n_tests, n_failed;

static void ok(int cond, const char *what) {
  n_tests++;
  if (!cond)
    n_failed++;
  printf("%s %d - %s\n", cond ? "ok" : "not ok", n_tests, what);
}

static bool args_ok(int argc, char **argv, struct request *req) {
  char err[256];
  return parse_args(argc, argv, req, err, sizeof err);
}

static void test_args(void) {
  struct request r;
  char *login[] = {"h", "login", NULL};
  ok(args_ok(2, login, &r) && r.verb == VERB_LOGIN && r.pty_mask == 0, "login alone");
  char *pty[] = {"h", "run", "--pty", "7:24x80", "echo hi", NULL};
  ok(args_ok(5, pty, &r) && r.verb == VERB_RUN && r.pty_mask == 7 && r.rows == 24 && r.cols == 80 &&
         !strcmp(r.command, "echo hi"),
     "run with --pty");
  char *opaque[] = {"h", "login", "--pty", NULL};
  ok(!args_ok(3, opaque, &r), "--pty without a value is refused");
  char *dash[] = {"h", "run", "--uid=0", NULL};
  ok(args_ok(3, dash, &r) && !strcmp(r.command, "--uid=0"), "an option look-alike is the opaque command");
  char *two[] = {"h", "run", "a", "b", NULL};
  ok(!args_ok(4, two, &r), "two commands are refused");
  const char *bad_specs[] = {"0:24x80", "8:24x80", "7:0x80", "7:24x10000", "7:24x", "7:-1x80", "+7:24x80",
                             "7:24x80 ", "07:24x80", "7:24X80", "18446744073709551623:24x80"};
  for (size_t i = 0; i < sizeof bad_specs / sizeof *bad_specs; i++) {
    char *v[] = {"h", "login", "--pty", (char *)(uintptr_t)bad_specs[i], NULL};
    char what[80];
    snprintf(what, sizeof what, "pty spec \"%s\" is refused", bad_specs[i]);
    ok(!args_ok(4, v, &r), what);
  }
  char *sets[] = {"h", "run", "--set", "hostname=box", "--set", "pids=10", "--set", NULL};
  ok(args_ok(7, sets, &r) && r.n_sets == 2 && !strcmp(r.sets[1], "pids=10") && !strcmp(r.command, "--set"),
     "--set repeats; run's last word is the command even if it is \"--set\"");
  char *set_login[] = {"h", "login", "--pty", "7:24x80", "--agent", "--set", "shell=/bin/sh", NULL};
  ok(args_ok(7, set_login, &r) && r.agent && r.n_sets == 1, "--set after --pty and --agent");
  char *set_bad[] = {"h", "login", "--set", "noequals", NULL};
  ok(!args_ok(4, set_bad, &r), "--set without KEY=VALUE is refused");
  char *set_order[] = {"h", "login", "--set", "a=b", "--agent", NULL};
  ok(!args_ok(5, set_order, &r), "--set before --agent is refused");
  char *stop[] = {"h", "stop", "1001", NULL};
  ok(args_ok(3, stop, &r) && r.verb == VERB_STOP && r.has_stop_uid && r.stop_uid == 1001, "stop UID");
  char *netns[] = {"h", "netns", NULL}, *netns_more[] = {"h", "netns", "--pty", "1:1x1", NULL};
  ok(args_ok(2, netns, &r) && r.verb == VERB_NETNS && r.pty_mask == 0 && !r.agent && r.n_sets == 0, "netns alone");
  ok(!args_ok(4, netns_more, &r), "netns takes no options");
  char *ports[] = {"h", "ports", NULL}, *ports_more[] = {"h", "ports", "60001", NULL};
  ok(args_ok(2, ports, &r) && r.verb == VERB_PORTS && r.pty_mask == 0 && r.n_sets == 0, "ports alone");
  ok(!args_ok(3, ports_more, &r), "ports takes no ranges: they come from the policy");
  char *stop0[] = {"h", "stop", "0", NULL};
  ok(!args_ok(3, stop0, &r), "stop 0 is refused");
  char *none[] = {"h", NULL};
  ok(!args_ok(1, none, &r), "no verb is refused");
  char *empty[] = {NULL};
  ok(!args_ok(0, empty, &r), "argc 0 is refused (PwnKit)");
  char *unknown[] = {"h", "shell", NULL};
  ok(!args_ok(2, unknown, &r), "unknown verb is refused");
}

static void free_env(struct kept_env *e) {
  for (size_t i = 0; i < e->n; i++)
    free(e->vars[i]);
  e->n = 0;
}

static void test_env(void) {
  char *envp[] = {"TERM=xterm-256color", "LD_PRELOAD=/tmp/evil.so", "NODE_OPTIONS=--require=/x",
                  "LANG=en_US.UTF-8", "LC_ALL=C.UTF-8", "LC_=x", "TERM=vt100", "GLIBC_TUNABLES=glibc.malloc=1",
                  "TERM2=x", "HOME=/home/bob", "USER=bob", "LANGUAGE=en:de", "TZ=/etc/shadow",
                  "SSH_CONNECTION=10.0.0.1 5000 10.0.0.2 22", "SSH_ORIGINAL_COMMAND=echo $HOME\nls",
                  "=novalue", "noequals", NULL};
  struct kept_env e;
  env_keep(envp, &e);
  ok(env_value(&e, "TERM") && !strcmp(env_value(&e, "TERM"), "xterm-256color"), "TERM kept, first of duplicates wins");
  ok(!env_value(&e, "LD_PRELOAD") && !env_value(&e, "NODE_OPTIONS") && !env_value(&e, "GLIBC_TUNABLES"),
     "loader and Node variables dropped");
  ok(!env_value(&e, "HOME") && !env_value(&e, "USER") && !env_value(&e, "TZ"), "identity and TZ dropped");
  ok(env_value(&e, "LANG") && env_value(&e, "LC_ALL") && !env_value(&e, "LC_"), "locale kept, bare LC_ dropped");
  ok(!env_value(&e, "TERM2"), "a name that only starts like an allowed one is dropped");
  ok(env_value(&e, "LANGUAGE") && env_value(&e, "SSH_CONNECTION") && env_value(&e, "SSH_ORIGINAL_COMMAND"),
     "session variables kept");
  free_env(&e);
  char *bad[] = {"TERM=../../etc/x", "LANG=en/../../x", "LC_CTYPE=a b", "SSH_CLIENT=1.2.3.4;rm", NULL};
  env_keep(bad, &e);
  ok(e.n == 0, "values with path tricks or odd characters are dropped");
  free_env(&e);
}

/* The limit keys of a record, every one set to something plain. */
#define EXTRA "env \nrestart idle\nuser_may \nseccomp default\nnested_userns false\nudp_ports 0 0\nimage host\nlayer temporary 0\nroot none\n"
#define LIMITS "memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio \nnofile 1024 4096\nnproc max max\ncore 0 max\n" EXTRA

static const char *good_record =
    "user 1001\nname alice\ngid 1001\ngroup alice\ngroups 1001 27\nhome /home/alice\nshell /bin/bash\n"
    "hostname alice\nnetwork none\nmemory 2147483648\nmemory_high 1073741824\nswap max\npids 512\ncpu 1500\n"
    "io_weight 50\nio 8:0 1048576 0 0 100 254:16 0 2097152 0 0\nnofile 1024 524288\nnproc 100 200\ncore 0 max\n"
    "env http_proxy=http://proxy:3128 GREETING=hello%20world%21\nrestart manual\nuser_may hostname memory pids network env nofile\n"
    "seccomp strict\nnested_userns false\nudp_ports 0 0\nimage host\nlayer temporary 0\nroot none\nend\n";

/* A record for uid 1001 with the given extra lines in place of the limits. */
static const char *record_with(const char *limits) {
  static char buf[2048];
  snprintf(buf, sizeof buf, "user 1001\nname a\ngid 1\ngroup a\ngroups \nhome /h\nshell /bin/sh\nhostname a\n"
                            "network none\n%send\n",
           limits);
  return buf;
}

/* A compiled policy around records, with its index and checksum. */
static char *with_envelope(const char *records) {
  static char *last;
  size_t len;
  free(last);
  return last = policy_build(records, strlen(records), &len);
}

static int parse(const char *text, uid_t uid, struct user_policy *u) {
  char err[256];
  return policy_lookup(text, strlen(text), uid, u, err, sizeof err);
}

/* env, restart and user_may; then the user's own settings on top (policy_override). */
static void test_policy_extras(void) {
  struct user_policy u;
  char err[256];
  ok(parse(with_envelope(good_record), 1001, &u) == 1 && u.n_env == 2 && !strcmp(u.env[0].name, "http_proxy") &&
         !strcmp(u.env[0].value, "http://proxy:3128") && !strcmp(u.env[1].value, "hello world!") &&
         u.restart == RESTART_MANUAL && (u.user_may & (1u << MAY_HOSTNAME)) && !(u.user_may & (1u << MAY_SHELL)),
     "env (percent-decoded), restart and user_may parse");
  ok(u.seccomp == SECCOMP_PROFILE_STRICT && !u.nested_userns, "seccomp and nested_userns parse");
  ok(parse(with_envelope(record_with("memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio \nnofile 64 64\n"
                                     "nproc max max\ncore 0 max\nenv \nrestart idle\nuser_may \nseccomp default\nnested_userns true\nudp_ports 0 0\nimage host\nlayer temporary 0\nroot none\n")),
           1001, &u) == 1 &&
         u.seccomp == SECCOMP_PROFILE_DEFAULT && u.nested_userns,
     "nested user namespaces under the default profile parse");
  enum layer_mode mode;
  uint64_t bytes;
  ok(parse(with_envelope(record_with("memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio \nnofile 64 64\n"
                                     "nproc max max\ncore 0 max\nenv \nrestart idle\nuser_may \nseccomp default\n"
                                     "nested_userns false\nudp_ports 0 0\nimage host\nlayer persistent 1073741824\nroot none\n")),
           1001, &u) == 1 &&
         layer_parse(u.layer, &mode, &bytes) && mode == LAYER_PERSISTENT && bytes == 1073741824,
     "a persistent writable layer of 1 GiB parses");
  struct root_ids ids;
  bool valid;
  ok(root_parse("165536 165536 131072 131072", 1001, 1001, &ids, &valid) && valid && ids.sub_uid == 165536 &&
         ids.store_gid == 131072,
     "root inside on a subordinate range parses");
  ok(!root_parse("none", 1001, 1001, &ids, &valid) && valid && ids.sub_uid == 0, "root none parses as no root");
  static const char *const bad_roots[] = {"100000 100000 200000", "0 100000 200000 200000",
                                          "100000 100000 200000 4294967295", "0100000 100000 200000 200000",
                                          "100000  100000 200000 200000", "100000 100000 200000 200000 ",
                                          "1000 100000 200000 200000", "100000 1000 200000 200000", "yes"};
  for (size_t i = 0; i < sizeof bad_roots / sizeof *bad_roots; i++) {
    char what[96];
    snprintf(what, sizeof what, "root \"%s\" (uid and gid 1001) is refused", bad_roots[i]);
    ok(!root_parse(bad_roots[i], 1001, 1001, &ids, &valid) && !valid, what);
  }
  static const char private_record[] =
      "user 1001\nname a\ngid 1\ngroup a\ngroups \nhome /h\nshell /bin/sh\nhostname a\nnetwork private\nmemory 0\n"
      "memory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio \nnofile 64 64\nnproc max max\ncore 0 max\nenv \n"
      "restart idle\nuser_may \nseccomp default\nnested_userns false\nudp_ports 60001 60100\nimage host\nlayer temporary 0\nroot none\nend\n";
  ok(parse(with_envelope(private_record), 1001, &u) == 1 &&
         u.udp_ports == (60001u << 16 | 60100u),
     "a range of 100 published UDP ports parses");
  ok(parse(with_envelope(record_with("memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio \nnofile 64 64\n"
                                     "nproc max max\ncore 0 max\nenv \nrestart idle\nuser_may \nseccomp default\n"
                                     "nested_userns false\nudp_ports 60001 60001\nimage host\nlayer temporary 0\nroot none\n")),
           1001, &u) < 0,
     "invalid record: published UDP ports without network private");
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define NO_LAYER "seccomp default\nnested_userns false\nudp_ports 0 0\nimage host\n"
#define SC "seccomp default\nnested_userns false\nudp_ports 0 0\nimage host\nlayer temporary 0\nroot none\n"
  const char *bad_extra[][2] = {
      {"a reserved variable", "env HOME=/x\nrestart idle\nuser_may \n" SC},
      {"a variable twice", "env A=1 A=2\nrestart idle\nuser_may \n" SC},
      {"a control character in a value", "env A=%0A\nrestart idle\nuser_may \n" SC},
      {"a raw odd byte in a value", "env A=a;b\nrestart idle\nuser_may \n" SC},
      {"lowercase hex", "env A=%2f\nrestart idle\nuser_may \n" SC},
      {"a name with a digit first", "env 1A=x\nrestart idle\nuser_may \n" SC},
      {"an unknown restart mode", "env \nrestart sometimes\nuser_may \n" SC},
      {"an unknown user_may key", "env \nrestart idle\nuser_may mounts\n" SC},
      {"a user_may key twice", "env \nrestart idle\nuser_may shell shell\n" SC},
      {"no restart", "env \nuser_may \n" SC},
      {"an unknown seccomp profile", "env \nrestart idle\nuser_may \nseccomp none\nnested_userns false\nudp_ports 0 0\nimage host\nlayer temporary 0\nroot none\n"},
      {"nested_userns not a boolean", "env \nrestart idle\nuser_may \nseccomp default\nnested_userns yes\nudp_ports 0 0\nimage host\nlayer temporary 0\nroot none\n"},
      {"nested user namespaces under strict", "env \nrestart idle\nuser_may \nseccomp strict\nnested_userns true\nudp_ports 0 0\nimage host\nlayer temporary 0\nroot none\n"},
      {"no seccomp", "env \nrestart idle\nuser_may \nnested_userns false\nudp_ports 0 0\nimage host\nlayer temporary 0\nroot none\n"},
      {"no nested_userns", "env \nrestart idle\nuser_may \nseccomp default\nudp_ports 0 0\nimage host\nlayer temporary 0\nroot none\n"},
      {"published ports below 1024", "env \nrestart idle\nuser_may \n"
                                     "seccomp default\nnested_userns false\nudp_ports 1000 1001\nimage host\nlayer temporary 0\nroot none\n"},
      {"more than 100 published ports", "env \nrestart idle\nuser_may \n"
                                        "seccomp default\nnested_userns false\nudp_ports 60000 60100\nimage host\nlayer temporary 0\nroot none\n"},
      {"a published range ending below its start", "env \nrestart idle\nuser_may \n"
                                                   "seccomp default\nnested_userns false\nudp_ports 60010 60001\nimage host\nlayer temporary 0\nroot none\n"},
      {"a published port above 65535", "env \nrestart idle\nuser_may \n"
                                       "seccomp default\nnested_userns false\nudp_ports 65535 65536\nimage host\nlayer temporary 0\nroot none\n"},
      {"no udp_ports", "env \nrestart idle\nuser_may \nseccomp default\nnested_userns false\nimage host\nlayer temporary 0\nroot none\n"},
      {"an image name with a capital", "env \nrestart idle\nuser_may \n"
                                       "seccomp default\nnested_userns false\nudp_ports 0 0\nimage Debian " HEX64 "\nlayer temporary 0\nroot none\n"},
      {"an image id too short", "env \nrestart idle\nuser_may \n"
                                "seccomp default\nnested_userns false\nudp_ports 0 0\nimage debian abc\nlayer temporary 0\nroot none\n"},
      {"an image named host with an id", "env \nrestart idle\nuser_may \n"
                                         "seccomp default\nnested_userns false\nudp_ports 0 0\nimage host " HEX64 "\nlayer temporary 0\nroot none\n"},
      {"no image", "env \nrestart idle\nuser_may \nseccomp default\nnested_userns false\nudp_ports 0 0\nlayer temporary 0\nroot none\n"},
      {"an unknown layer mode", "env \nrestart idle\nuser_may \n" NO_LAYER "layer kept 1073741824\nroot none\n"},
      {"a persistent layer of no size", "env \nrestart idle\nuser_may \n" NO_LAYER "layer persistent 0\nroot none\n"},
      {"a layer below the least size", "env \nrestart idle\nuser_may \n" NO_LAYER "layer temporary 4096\nroot none\n"},
      {"a layer size with a leading zero", "env \nrestart idle\nuser_may \n" NO_LAYER "layer temporary 01073741824\nroot none\n"},
      {"a layer size past 2^62", "env \nrestart idle\nuser_may \n" NO_LAYER "layer persistent 4611686018427387904\nroot none\n"},
      {"no layer", "env \nrestart idle\nuser_may \n" NO_LAYER "root none\n"},
      {"root inside the host image", "env \nrestart idle\nuser_may \n" NO_LAYER "layer temporary 0\nroot 100000 100000 200000 200000\n"},
      {"no root", "env \nrestart idle\nuser_may \n" NO_LAYER "layer temporary 0\n"},
  };
  for (size_t i = 0; i < sizeof bad_extra / sizeof *bad_extra; i++) {
    char what[80], limits[512];
    snprintf(what, sizeof what, "invalid record: %s", bad_extra[i][0]);
    snprintf(limits, sizeof limits, "memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio \nnofile 64 64\n"
                                    "nproc max max\ncore 0 max\n%s",
             bad_extra[i][1]);
    ok(parse(with_envelope(record_with(limits)), 1001, &u) < 0, what);
  }
  /* good_record: memory 2G, pids 512, network none, nofile 1024 524288; the
   * user may set hostname, memory, pids, network, env and nofile. */
  parse(with_envelope(good_record), 1001, &u);
  uint64_t hash = u.record_hash;
  ok(hash != 0 && policy_override(&u, "hostname=mybox", err, sizeof err) && !strcmp(u.hostname, "mybox") &&
         u.record_hash == hash,
     "a user may set an allowed key; the record's hash stays the admin's");
  ok(policy_override(&u, "memory=536870912", err, sizeof err) && u.limits.memory == 536870912ull &&
         policy_override(&u, "pids=100", err, sizeof err) && u.limits.pids == 100,
     "a user may lower limits");
  parse(with_envelope(good_record), 1001, &u);
  const char *refused[][2] = {
      {"shell=/bin/sh", "a key the policy does not allow"},
      {"memory=4294967296", "memory above the admin's"},
      {"memory=0", "no memory limit under the admin's"},
      {"pids=513", "pids above the admin's"},
      {"network=host", "the host network the admin does not give"},
      {"nofile=1024 1048576", "a hard nofile above the admin's"},
      {"hostname=-bad", "an invalid hostname"},
      {"env=HOME=/tmp", "a reserved variable"},
      {"mounts=/x", "a key that is never the user's"},
      {"seccomp=unconfined", "the seccomp profile, which is the admin's"},
      {"nested_userns=true", "nested user namespaces, which are the admin's"},
      {"hostname", "no value"},
      {"cpu=100", "cpu, not allowed here"},
      {"memory=4096", "memory below the schema's 32M (a container that can't start)"},
  };
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    struct user_policy before = u;
    char what[96];
    snprintf(what, sizeof what, "refused, changing nothing: %s", refused[i][1]);
    ok(!policy_override(&u, refused[i][0], err, sizeof err) && !memcmp(&before, &u, sizeof u), what);
  }
  ok(policy_override(&u, "network=none", err, sizeof err) && u.network == NETWORK_NONE &&
         policy_override(&u, "nofile=256 4096", err, sizeof err) && u.rlimits[RL_NOFILE].rlim_max == 4096,
     "network none and a lower nofile are accepted");
  ok(policy_override(&u, "env=EDITOR=vim http_proxy=", err, sizeof err) && u.n_env == 3 &&
         !strcmp(u.env[0].name, "http_proxy") && u.env[0].value[0] == '\0' && !strcmp(u.env[2].name, "EDITOR"),
     "the user's variables join the admin's, replacing the same names");
}

static void test_policy(void) {
  struct user_policy u;
  ok(parse(with_envelope(good_record), 1001, &u) == 1 && u.gid == 1001 && u.n_groups == 2 && u.groups[1] == 27 &&
         !strcmp(u.home, "/home/alice") && u.limits.memory == 2147483648ull && u.limits.cpu == 1500 &&
         u.network == NETWORK_NONE,
     "a good record parses");
  ok(u.limits.memory_high == 1073741824ull && u.limits.swap == SWAP_ANY && u.limits.io_weight == 50 && u.limits.n_io == 2 &&
         u.limits.io[0].major == 8 && u.limits.io[0].rbps == 1048576 && u.limits.io[0].wiops == 100 &&
         u.limits.io[1].major == 254 && u.limits.io[1].minor == 16 && u.limits.io[1].wbps == 2097152,
     "cgroup limits parse: memory_high, swap max, io weight and two devices");
  ok(u.rlimits[RL_NOFILE].rlim_cur == 1024 && u.rlimits[RL_NOFILE].rlim_max == 524288 &&
         u.rlimits[RL_NPROC].rlim_max == 200 && u.rlimits[RL_CORE].rlim_cur == 0 &&
         u.rlimits[RL_CORE].rlim_max == RLIM_INFINITY,
     "rlimits parse, \"max\" is unlimited");
  const char *bad_limits[][2] = {
      {"soft above hard", "memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio \nnofile 4096 1024\nnproc max max\ncore 0 max\n" EXTRA},
      {"one rlimit value", "memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio \nnofile 4096\nnproc max max\ncore 0 max\n" EXTRA},
      {"io weight above 10000", "memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 10001\nio \nnofile 64 64\nnproc max max\ncore 0 max\n" EXTRA},
      {"io device without its four values", "memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio 8:0 1 2 3\nnofile 64 64\nnproc max max\ncore 0 max\n" EXTRA},
      {"io device without minor", "memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio 8 1 2 3 4\nnofile 64 64\nnproc max max\ncore 0 max\n" EXTRA},
      {"nine io devices", "memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio 1:0 1 1 1 1 1:1 1 1 1 1 1:2 1 1 1 1 "
                          "1:3 1 1 1 1 1:4 1 1 1 1 1:5 1 1 1 1 1:6 1 1 1 1 1:7 1 1 1 1 1:8 1 1 1 1\nnofile 64 64\nnproc max max\ncore 0 max\n" EXTRA},
      {"swap of 2^62", "memory 0\nmemory_high 0\nswap 4611686018427387904\npids 0\ncpu 0\nio_weight 0\nio \nnofile 64 64\nnproc max max\ncore 0 max\n" EXTRA},
      {"a disk listed twice", "memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio 8:0 1048576 0 0 0 8:0 0 0 0 0\nnofile 64 64\nnproc max max\ncore 0 max\n" EXTRA},
      {"a major above 4095", "memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio 4096:0 1 1 1 1\nnofile 64 64\nnproc max max\ncore 0 max\n" EXTRA},
      {"pids above the kernel's 4194304", "memory 0\nmemory_high 0\nswap 0\npids 4194305\ncpu 0\nio_weight 0\nio \nnofile 64 64\nnproc max max\ncore 0 max\n" EXTRA},
      {"nofile below 64", "memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio \nnofile 63 64\nnproc max max\ncore 0 max\n" EXTRA},
      {"a missing rlimit", "memory 0\nmemory_high 0\nswap 0\npids 0\ncpu 0\nio_weight 0\nio \nnofile 64 64\nnproc max max\n" EXTRA},
  };
  for (size_t i = 0; i < sizeof bad_limits / sizeof *bad_limits; i++) {
    char what[80];
    snprintf(what, sizeof what, "invalid limits: %s", bad_limits[i][0]);
    ok(parse(with_envelope(record_with(bad_limits[i][1])), 1001, &u) < 0, what);
  }
  ok(parse(with_envelope(record_with(LIMITS)), 1001, &u) == 1 && u.limits.n_io == 0, "the plain limits parse");
  ok(parse(with_envelope(record_with("memory 0\nmemory_high 0\nswap 0\npids 4194304\ncpu 0\nio_weight 0\n"
                                     "io 4095:1048575 1 1 1 1 8:0 1 0 0 0\nnofile 64 64\nnproc max max\ncore 0 max\n" EXTRA)),
           1001, &u) == 1 &&
         u.limits.pids == 4194304 && u.limits.n_io == 2,
     "the edges parse: pids 4194304, device 4095:1048575, nofile 64");
  ok(parse(with_envelope(good_record), 1002, &u) == 0, "another uid is absent");
  test_policy_extras();
  char tampered[8192];
  snprintf(tampered, sizeof tampered, "%s", with_envelope(good_record));
  *strstr(tampered, "pids 512") = 'P';
  ok(parse(tampered, 1001, &u) < 0, "a changed byte in the record fails its hash");
  const char *broken[][2] = {
      {"unknown key", "user 1001\nname alice\nextra 1\nend\n"},
      {"missing keys", "user 1001\nname alice\nend\n"},
      {"relative home", "user 1001\nname a\ngid 1\ngroup a\ngroups \nhome home/a\nshell /bin/sh\nhostname a\nnetwork none\n" LIMITS "end\n"},
      {"dot-dot home", "user 1001\nname a\ngid 1\ngroup a\ngroups \nhome /home/../etc\nshell /bin/sh\nhostname a\nnetwork none\n" LIMITS "end\n"},
      {"bad network", "user 1001\nname a\ngid 1\ngroup a\ngroups \nhome /h\nshell /bin/sh\nhostname a\nnetwork bridge\n" LIMITS "end\n"},
      {"duplicate key", "user 1001\nname a\nname b\ngid 1\ngroup a\ngroups \nhome /h\nshell /bin/sh\nhostname a\nnetwork none\n" LIMITS "end\n"},
      {"negative number", "user 1001\nname a\ngid -1\ngroup a\ngroups \nhome /h\nshell /bin/sh\nhostname a\nnetwork none\n" LIMITS "end\n"},
      {"comment inside a record", "user 1001\n# x\nname a\ngid 1\ngroup a\ngroups \nhome /h\nshell /bin/sh\nhostname a\nnetwork none\n" LIMITS "end\n"},
      {"no end", "user 1001\nname a\n"},
  };
  for (size_t i = 0; i < sizeof broken / sizeof *broken; i++) {
    char what[80];
    snprintf(what, sizeof what, "invalid record: %s", broken[i][0]);
    ok(parse(with_envelope(broken[i][1]), 1001, &u) < 0, what);
  }
  /* The index: a look-up reads only the lines its search meets, and refuses
   * the file when one of them is out of place. */
  char order[8192], other[4096];
  snprintf(other, sizeof other, "%s", good_record);
  memcpy(strstr(other, "user 1001"), "user 1000", 9);
  snprintf(order, sizeof order, "%s%s%s", good_record, other, good_record);
  memcpy(strstr(strstr(order, "user 1000") + 1, "user 1001"), "user 1002", 9);
  ok(parse(with_envelope(order), 999, &u) < 0, "an index line out of order that the search meets is refused");
  ok(parse(with_envelope(order), 1002, &u) == 1 && u.uid == 1002, "the records the search reaches in order are served");
  char dup[8192];
  snprintf(dup, sizeof dup, "%s%s", good_record, good_record);
  ok(parse(with_envelope(dup), 1000, &u) < 0, "a uid twice in the index is refused where the search meets it");
  char *text = with_envelope(good_record);
  char *entry = text + POLICY_HEAD_LEN;
  memcpy(entry, "0000000000", 10);
  ok(parse(text, 1001, &u) < 0, "an index line for uid 0 is refused");
  text = with_envelope(good_record);
  entry = text + POLICY_HEAD_LEN + 11 + 15;
  (*entry)++; /* the record's offset one byte on */
  ok(parse(text, 1001, &u) < 0, "an index line that points past the record's start is refused");
  text = with_envelope(good_record);
  memcpy(text + sizeof POLICY_MAGIC + 6, "0000000009", 10);
  ok(parse(text, 1001, &u) < 0, "an index that runs past the end of the file is refused");
  text = with_envelope(good_record);
  ok(policy_lookup(text, strlen(text) - 40, 1001, &u, (char[64]){0}, 64) < 0, "a record cut short by the file's end is refused");
  ok(parse("cellsh-policy 1\nchecksum 0000000000000000\n", 1001, &u) < 0, "another format version is refused");
  ok(parse("cellsh-policy 4\nuser 1001\nend\nchecksum 0000000000000000\n", 1001, &u) < 0,
     "the format before the index (version 4) is refused");
  ok(valid_abs_path("/home/a.b") && !valid_abs_path("/home/a/") && !valid_abs_path("//x") && !valid_abs_path("/a/./b") &&
         !valid_abs_path("/a b") && !valid_abs_path("/"),
     "path validator");
  ok(valid_name("alice") && !valid_name("-x") && !valid_name("a/b") && !valid_name("") &&
         !valid_name("abcdefghijabcdefghijabcdefghijabc"),
     "name validator");
  ok(valid_hostname("a-1.b") && !valid_hostname("-a") && !valid_hostname("a_b"), "hostname validator");
}

static void test_log(void) {
  struct log_fields f = {0};
  log_str(&f, "command", "a\"b\\c\n\x1b[2J\xff\xc3\xa9");
  f.buf[f.n] = '\0';
  ok(!strcmp(f.buf, ",\"command\":\"a\\\"b\\\\c\\u000a\\u001b[2J\\ufffd\xc3\xa9\""),
     "quotes, control bytes and invalid UTF-8 are escaped; valid UTF-8 kept");
  struct log_fields o = {0};
  log_str(&o, "c", "\xe0\x80\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xf0\x9f\x98\x80");
  o.buf[o.n] = '\0';
  ok(!strcmp(o.buf, ",\"c\":\"\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd|\xf0\x9f\x98\x80\""),
     "overlong forms, surrogates and code points past U+10FFFF are replaced");
  char big[3 * LOG_VALUE_MAX];
  memset(big, '\x01', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  struct log_fields g = {0};
  log_str(&g, "command", big);
  g.buf[g.n] = '\0';
  ok(strstr(g.buf, "\"command_truncated\":true") != NULL && g.n < LOG_VALUE_MAX + 128 && !g.overflow,
     "long values are cut and marked");
}

static int parse_policy_uid(const char *buf, size_t n, const char *uid_text) {
  uint32_t uid;
  struct user_policy u;
  char err[256];
  if (!parse_u32(uid_text, &uid))
    return 2;
  int r = policy_lookup(buf, n, uid, &u, err, sizeof err);
  if (r < 0)
    printf("error %s\n", err);
  if (r == 0)
    printf("absent\n");
  if (r <= 0)
    return 0;
  printf("user %u\nname %s\ngid %u\ngroup %s\ngroups ", u.uid, u.name, u.gid, u.group);
  for (unsigned i = 0; i < u.n_groups; i++)
    printf(i ? " %u" : "%u", u.groups[i]);
  const struct cg_limits *l = &u.limits;
  static const char *const network_names[NETWORK_COUNT] = NETWORK_NAMES;
  printf("\nhome %s\nshell %s\nhostname %s\nnetwork %s\nmemory %llu\nmemory_high %llu\n", u.home, u.shell,
         u.hostname, network_names[u.network], (unsigned long long)l->memory,
         (unsigned long long)l->memory_high);
  if (l->swap == SWAP_ANY)
    printf("swap max\n");
  else
    printf("swap %llu\n", (unsigned long long)l->swap);
  printf("pids %u\ncpu %u\nio_weight %u\nio", l->pids, l->cpu, l->io_weight);
  for (unsigned i = 0; i < l->n_io; i++)
    printf(" %u:%u %llu %llu %llu %llu", l->io[i].major, l->io[i].minor, (unsigned long long)l->io[i].rbps,
           (unsigned long long)l->io[i].wbps, (unsigned long long)l->io[i].riops, (unsigned long long)l->io[i].wiops);
  if (!l->n_io)
    printf(" ");
  printf("\n");
  for (int i = 0; i < RL_COUNT; i++) {
    printf("%s", rlimit_key[i]);
    const rlim_t v[2] = {u.rlimits[i].rlim_cur, u.rlimits[i].rlim_max};
    for (int k = 0; k < 2; k++) {
      if (v[k] == RLIM_INFINITY)
        printf(" max");
      else
        printf(" %llu", (unsigned long long)v[k]);
    }
    printf("\n");
  }
  printf("env");
  for (unsigned i = 0; i < u.n_env; i++) {
    printf(i ? " %s=" : " %s=", u.env[i].name);
    for (const unsigned char *p = (const unsigned char *)u.env[i].value; *p; p++)
      printf(*p < 0x80 && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/:,@+=", *p) ? "%c" : "%%%02X", *p);
  }
  static const char *const restarts[] = {"idle", "login", "manual"};
  printf("%s\nrestart %s\nuser_may", u.n_env ? "" : " ", restarts[u.restart]);
  bool first = true;
  for (int m = 0; m < MAY_COUNT; m++)
    if (u.user_may & (1u << m)) {
      printf(" %s", user_may_key[m]);
      first = false;
    }
  static const char *const profiles[] = {"default", "strict", "unconfined"};
  printf("%s\nseccomp %s\nnested_userns %s\nudp_ports %u %u\nimage %s\nlayer %s\nroot %s\nend\n", first ? " " : "",
         profiles[u.seccomp], u.nested_userns ? "true" : "false", (unsigned)(u.udp_ports >> 16),
         (unsigned)(u.udp_ports & 0xffff), u.image, u.layer, u.root);
  return 0;
}

/* Remove a folder of the agent checks and what is in it (or the link in its place). */
static void rmdir_tree(const char *dir) {
  if (unlink(dir) == 0)
    return;
  DIR *d = opendir(dir);
  for (struct dirent *e; d && (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      unlinkat(dirfd(d), e->d_name, 0);
  if (d)
    closedir(d);
  rmdir(dir);
}

/* A unix socket bound at path, owned by uid (root runs the unit tests). */
static bool make_socket(const char *path, uid_t uid) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  bool ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && lchown(path, uid, uid) == 0;
  if (s >= 0)
    close(s);
  return ok;
}

/* The agent socket the launcher relays: only sshd's, in a 0700 folder of the user's. */
static void test_agent_socket(void) {
  if (geteuid() != 0) {
    ok(true, "the agent socket checks # SKIP they need root (chown)");
    return;
  }
  const uid_t uid = 4242;
  const char *dir = "/tmp/ssh-cellshUnt1", *sock = "/tmp/ssh-cellshUnt1/agent.77";
  rmdir_tree(dir);
  bool made = mkdir(dir, 0700) == 0 && chown(dir, uid, uid) == 0 && make_socket(sock, uid);
  ok(made, "an agent folder and socket to check");
  int fd = agent_host_socket(sock, uid);
  struct stat st;
  ok(fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && (fcntl(fd, F_GETFL) & O_PATH),
     "sshd's socket of the user's is taken, as an O_PATH fd of that socket");
  if (fd >= 0)
    close(fd);
  ok(agent_host_socket(sock, uid + 1) < 0, "another user's is not");
  /* A real folder and socket whose name is one letter too long, and forms that are not sshd's. */
  const char *longer = "/tmp/ssh-cellshUnt11";
  mkdir(longer, 0700);
  chown(longer, uid, uid);
  make_socket("/tmp/ssh-cellshUnt11/agent.77", uid);
  const char *bad_paths[] = {"/tmp/ssh-cellshUnt11/agent.77", "/tmp/ssh-cellshUn1/agent.77", "/tmp/ssh-cellshUnt1/agent.",
                             "/tmp/ssh-cellshUnt1/agent.7x", "/tmp/ssh-cellshUnt1/../ssh-cellshUnt1/agent.77",
                             "/tmp/ssh-cellsh.nt1/agent.77", "/run/ssh-cellshUnt1/agent.77", "/tmp/ssh-cellshUnt1/agent.77/",
                             "/tmp/ssh-cellshUnt1/Agent.77"};
  bool none = true;
  for (size_t i = 0; i < sizeof bad_paths / sizeof *bad_paths; i++)
    none = none && agent_host_socket(bad_paths[i], uid) < 0;
  ok(none, "a path not of sshd's form is not taken");
  rmdir_tree(longer);
  chmod(dir, 0750);
  ok(agent_host_socket(sock, uid) < 0, "a folder others may enter is not");
  chmod(dir, 0700);
  chown(dir, uid + 1, uid + 1);
  ok(agent_host_socket(sock, uid) < 0, "a folder of another user's is not");
  chown(dir, uid, uid);
  unlink(sock);
  symlink("/run/some-host-service.sock", sock);
  ok(agent_host_socket(sock, uid) < 0, "a link in the socket's place is not followed");
  unlink(sock);
  int f = open(sock, O_CREAT | O_WRONLY, 0600);
  if (f >= 0)
    close(f);
  lchown(sock, uid, uid);
  ok(agent_host_socket(sock, uid) < 0, "a regular file is not a socket");
  rmdir_tree(dir);
  mkdir("/tmp/ssh-cellshUnt2", 0700);
  chown("/tmp/ssh-cellshUnt2", uid, uid);
  make_socket("/tmp/ssh-cellshUnt2/agent.1", uid);
  symlink("/tmp/ssh-cellshUnt2", dir);
  ok(agent_host_socket(sock, uid) < 0 && agent_host_socket("/tmp/ssh-cellshUnt1/agent.1", uid) < 0,
     "a folder that is a link is not followed");
  unlink(dir);
  rmdir_tree("/tmp/ssh-cellshUnt2");
}

static int parse_args_out(int argc, char **argv) {
  struct request req;
  char err[256];
  if (!parse_args(argc, argv, &req, err, sizeof err)) {
    printf("error %s\n", err);
    return 0;
  }
  static const char *const verbs[VERB_COUNT] = VERB_NAMES;
  printf("verb %s\n", verbs[req.verb]);
  if (req.pty_mask)
    printf("pty %u %u %u\n", req.pty_mask, req.rows, req.cols);
  if (req.agent)
    printf("agent\n");
  for (unsigned i = 0; i < req.n_sets; i++)
    printf("set %s\n", req.sets[i]);
  if (req.command)
    printf("command %s\n", req.command);
  if (req.has_stop_uid)
    printf("uid %u\n", (unsigned)req.stop_uid);
  if (req.notice)
    printf("notice %s\n", req.notice);
  return 0;
}

static int parse_started_out(const char *message) {
  char session[STARTED_ID_LEN + 1], name[AGENT_NAME_MAX];
  if (agent_parse_started(message, session, name))
    printf("session %s socket %s\n", session, name);
  else
    printf("refused\n");
  return 0;
}

static void print_names(const char *what, const char *const *names, int n) {
  printf("%s", what);
  for (int i = 0; i < n; i++)
    printf(" %s", names[i]);
  printf("\n");
}

/* The contract's values as this build has them, one "NAME value..." per line. */
static int contract_out(void) {
  static const char *const keys[KEY_COUNT] = KEY_NAMES, *const networks[NETWORK_COUNT] = NETWORK_NAMES,
                           *const restarts[RESTART_COUNT] = RESTART_NAMES,
                           *const profiles[SECCOMP_PROFILE_COUNT] = SECCOMP_PROFILE_NAMES,
                           *const rlimits[RL_COUNT] = RL_NAMES, *const verbs[VERB_COUNT] = VERB_NAMES,
                           *const reserved[RESERVED_ENV_COUNT] = RESERVED_ENV_NAMES,
                           *const layers[LAYER_COUNT] = LAYER_NAMES;
  printf("exit usage %d internal %d refused %d config %d\n", EXIT_USAGE, EXIT_INTERNAL, EXIT_REFUSED, EXIT_CONFIG);
  printf("policy %s %d %d %u %d\n", POLICY_MAGIC, POLICY_HEAD_LEN, INDEX_ENTRY_LEN, RECORD_MAX_BYTES, POLICY_LINE_MAX);
  printf("bounds %d %d %d %d %d %d %d %d %d %d %d %ld %d %d %d %d %d %d %d %d %d %d %ld\n", NAME_MAX_LEN, PATH_MAX_LEN,
         HOSTNAME_MAX_LEN, MAX_GROUPS, MAX_IO_DEVICES, IO_WEIGHT_MIN, IO_WEIGHT_MAX, PIDS_MAX, MAJOR_MAX, MINOR_MAX,
         NOFILE_MIN, (long)MEMORY_MIN, UDP_PORT_MIN, UDP_PORTS_MAX, CPU_MIN, CPU_MAX, ENV_MAX, ENV_NAME_MAX,
         ENV_VALUE_MAX, IMAGE_NAME_MAX, IMAGE_LAYERS_MAX, ID_RANGE, (long)DISK_MIN);
  print_names("keys", keys, KEY_COUNT);
  print_names("network", networks, NETWORK_COUNT);
  print_names("layer", layers, LAYER_COUNT);
  print_names("restart", restarts, RESTART_COUNT);
  print_names("seccomp", profiles, SECCOMP_PROFILE_COUNT);
  print_names("rlimits", rlimits, RL_COUNT);
  print_names("user_may", user_may_key, MAY_COUNT);
  print_names("reserved_env", reserved, RESERVED_ENV_COUNT);
  print_names("verbs", verbs, VERB_COUNT);
  printf("argv %d %d %d %d\n", MAX_SETS, SET_MAX, PTY_MAX_DIM, NOTICE_MAX);
  printf("fds %d %d %d\n", CHANNEL_FD, HELPER_ERR_FD, AGENT_FD);
  printf("started %s %d %s %s %s\n", STARTED_WORD, STARTED_ID_LEN, STARTED_CREATED, STARTED_JOINED, AGENT_SOCKET_SUFFIX);
  return 0;
}

static int parse_policy_file(const char *path, int n_uids, char **uids) {
  size_t n = 0;
  cleanup_free char *buf = read_small_at(AT_FDCWD, path, 1u << 28, &n);
  if (!buf)
    return 2;
  for (int i = 0; i < n_uids; i++) {
    if (i)
      printf("--\n");
    if (parse_policy_uid(buf, n, uids[i]))
      return 2;
  }
  return 0;
}

static int drift_out(const char *path, int n_uids, char **uids) {
  size_t n = 0;
  cleanup_free char *buf = read_small_at(AT_FDCWD, path, 1u << 28, &n);
  struct user_policy u[2];
  struct container_record rec = {0};
  char err[256];
  uint32_t uid;
  if (!buf || !parse_u32(uids[0], &uid) || policy_lookup(buf, n, uid, &u[0], err, sizeof err) != 1)
    return 2;
  drift_record(&rec, &u[0]);
  for (int i = 1; i < n_uids; i++) {
    char pending[96];
    if (!parse_u32(uids[i], &uid) || policy_lookup(buf, n, uid, &u[1], err, sizeof err) != 1)
      return 2;
    drift_fields(&rec, &u[1], pending, sizeof pending);
    printf("%spending %s\naccess %d\n", i > 1 ? "--\n" : "", pending, drift_takes_access(&rec, &u[1]));
  }
  return 0;
}

static int parse_args_batch(void) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, stdin)) > 0) {
    if (line[len - 1] == '\n')
      line[--len] = '\0';
    char *words[64] = {"cellsh-helper"};
    int n = 1;
    for (char *w = line, *end; n < 63; w = end + 1) {
      end = strchr(w, '\x1f');
      words[n++] = w;
      if (!end)
        break;
      *end = '\0';
    }
    words[n] = NULL;
    parse_args_out(n, words);
    printf("--\n");
  }
  free(line);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && !strcmp(argv[1], "parse-policy"))
    return parse_policy_file(argv[2], argc - 3, argv + 3);
  if (argc >= 2 && !strcmp(argv[1], "parse-args"))
    return parse_args_out(argc - 1, argv + 1);
  if (argc == 2 && !strcmp(argv[1], "parse-args-batch"))
    return parse_args_batch();
  if (argc == 3 && !strcmp(argv[1], "parse-started"))
    return parse_started_out(argv[2]);
  if (argc == 2 && !strcmp(argv[1], "contract"))
    return contract_out();
  if (argc >= 5 && !strcmp(argv[1], "drift"))
    return drift_out(argv[2], argc - 3, argv + 3);
  test_args();
  test_env();
  test_policy();
  test_log();
  test_agent_socket();
  printf("1..%d\n", n_tests);
  return n_failed ? 1 : 0;
}
