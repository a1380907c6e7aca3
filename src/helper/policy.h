/* The compiled policy: the only input the helper trusts besides the kernel.
 *
 * `cellsh-admin apply` (root, TypeScript) resolves the YAML policy, looks every
 * enrolled user up through NSS and writes this flat text file; the helper never
 * parses YAML and never calls NSS. src/policy/compiled.ts mirrors this file, and
 * test/unit/policy/compiled.test.ts round-trips records through both.
 *
 * Format (one "key value" per line, single space, no leading blanks, LF ends):
 *
 *   cellsh-policy 1                  first line: magic and format version
 *   # ...                            comment lines are ignored
 *   user <uid>                       starts a record (uids strictly increasing);
 *                                    every key below is required
 *   <key> <value>                    the fields of struct user_policy, in any order
 *   end                              closes the record
 *   checksum <16 hex digits>         last line: FNV-1a 64 of every byte before it
 *
 * Unknown keys, duplicate keys or uids, a missing key, a value out of range or a
 * bad checksum make the whole file invalid (exit 78): a half-understood policy
 * is never applied. */
#ifndef CELLSH_POLICY_H
#define CELLSH_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define POLICY_MAGIC "cellsh-policy 1"
#define POLICY_MAX_BYTES (8u << 20) /* refuse larger files */
#define NAME_MAX_LEN 32             /* user and group names */
#define PATH_MAX_LEN 255            /* home and shell */
#define HOSTNAME_MAX_LEN 63
#define MAX_GROUPS 64

enum network_mode {
  NETWORK_NONE = 0, /* "none": a new network namespace with only loopback, up */
  NETWORK_HOST = 1, /* "host": share the host's network namespace */
};

/* One user's fully resolved settings. Zero for a limit means "no limit". */
struct user_policy {
  uid_t uid;                           /* "user": the record key, the real uid */
  gid_t gid;                           /* "gid": primary group id */
  char name[NAME_MAX_LEN + 1];         /* "name": login name, for passwd inside */
  char group[NAME_MAX_LEN + 1];        /* "group": primary group name */
  gid_t groups[MAX_GROUPS];            /* "groups": supplementary gids, space separated */
  unsigned n_groups;                   /*   (may be empty: "groups" with no value) */
  char home[PATH_MAX_LEN + 1];         /* "home": absolute, bind-mounted at the same path */
  char shell[PATH_MAX_LEN + 1];        /* "shell": absolute path inside the container */
  char hostname[HOSTNAME_MAX_LEN + 1]; /* "hostname": the container's uts name */
  enum network_mode network;           /* "network": none | host */
  uint64_t memory;                     /* "memory": bytes, hard limit */
  uint32_t pids;                       /* "pids": max tasks */
  uint32_t cpu;                        /* "cpu": CPU time in thousandths of a CPU */
};

/* Parse a whole compiled policy held in buf (NUL-terminated) and copy the record
 * for uid into *out. Returns 1 if found, 0 if the file is valid but has no such
 * user, and -1 if the file is invalid, with a reason in err. */
int policy_parse(const char *buf, uid_t uid, struct user_policy *out, char *err, size_t errlen);

/* Read the compiled policy at its compiled-in path after checking that it and
 * every folder above it belong to root and are writable by nobody else; dies with
 * EXIT_CONFIG if not, EXIT_REFUSED if the caller has no record. */
void policy_load(uid_t uid, struct user_policy *out);

/* Validators shared with the parser and the environment filter. */
bool valid_name(const char *s);
bool valid_abs_path(const char *s);
bool valid_hostname(const char *s);

/* FNV-1a 64 over len bytes. */
uint64_t fnv1a64(const char *p, size_t len);

#endif
