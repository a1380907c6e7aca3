/* The compiled policy: the only input the helper trusts besides the kernel.
 *
 * `cellsh-admin apply` (root, TypeScript) resolves the YAML policy, looks every
 * enrolled user up through NSS and writes this flat text file; the helper never
 * parses YAML and never calls NSS. The keys, bounds and layout are the contract's
 * (src/contract/index.ts, generated into contract.h); src/policy/compiled.ts is
 * the TypeScript side, and test/unit/policy/compiled.test.ts round-trips records
 * through both.
 *
 * Format (one "key value" per line, single space, no leading blanks, LF ends):
 *
 *   cellsh-policy 5                  first line: magic and format version
 *   index <count>                    10 digits: how many records the index lists
 *   <uid> <offset> <length> <hash>   one line per record, by increasing uid, each
 *                                    INDEX_ENTRY_LEN bytes: 10, 16 and 8 decimal
 *                                    digits and 16 lowercase hex digits
 *   # ...                            comment lines (only between index and records)
 *   user <uid>                       starts a record, at the byte its index line says;
 *   <key> <value>                    the fields of struct user_policy, in any order,
 *                                    every one required
 *   end                              closes the record; its hash is FNV-1a 64 of the
 *                                    bytes from "user" through this line's newline
 *   checksum <16 hex digits>         last line: FNV-1a 64 of every byte before it
 *
 * A login reads the header, about log2(count) index lines and its own record,
 * so it costs the same with 100,000 records as with 10 (POLICY_MAX_BYTES no
 * longer caps the file). The helper checks what it reads: an index line out of
 * place or order, a record that is not exactly its index line's bytes and hash,
 * an unknown, duplicate or missing key or a value out of range make the file
 * invalid (exit 78): a half-understood policy is never applied. The checksum
 * line is for cellsh-admin's own readers, which check the whole file
 * (src/policy/compiled.ts): the helper never reads the records of others. */
#ifndef CELLSH_POLICY_H
#define CELLSH_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "contract.h" /* the record's keys and enums, the bounds, the file's layout */

#define SIZE_LIMIT (1ull << 62)                   /* sizes are below this */
#define IMAGE_VALUE_MAX (IMAGE_NAME_MAX + 1 + 64) /* "image": "NAME ID" */
#define LAYER_VALUE_MAX 40                        /* "layer": "persistent BYTES" */
#define ROOT_VALUE_MAX 48                         /* "root": four ids */
#define SWAP_ANY UINT64_MAX                       /* "swap max": no swap limit */

extern const char *const user_may_key[MAY_COUNT]; /* "shell", "hostname", ... */

/* One variable the policy sets in every session. */
struct env_var {
  char name[ENV_NAME_MAX + 1];
  char value[ENV_VALUE_MAX + 1];
};

/* Bandwidth limits on one block device; 0 = no limit. */
struct io_limit {
  uint32_t major, minor;
  uint64_t rbps, wbps;   /* bytes per second */
  uint64_t riops, wiops; /* operations per second */
};

/* What the container's cgroup enforces. Zero for a limit means "no limit". */
struct cg_limits {
  uint64_t memory;      /* "memory": bytes, hard limit */
  uint64_t memory_high; /* "memory_high": bytes, throttled and reclaimed above it */
  uint64_t swap;        /* "swap": bytes of swap on top of memory, or SWAP_ANY ("max") */
  uint32_t pids;        /* "pids": max tasks */
  uint32_t cpu;         /* "cpu": CPU time in thousandths of a CPU */
  uint32_t io_weight;   /* "io_weight": 1-10000, 0 = the kernel's default */
  unsigned n_io;        /* "io": MAJ:MIN RBPS WBPS RIOPS WIOPS, repeated (may be empty) */
  struct io_limit io[MAX_IO_DEVICES];
};

/* The per-process limits a session's program starts with (enum rlimit_key). */
extern const int rlimit_resource[RL_COUNT];    /* RLIMIT_NOFILE, ... */
extern const char *const rlimit_key[RL_COUNT]; /* "nofile", ... */

/* One user's fully resolved settings. */
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
  struct cg_limits limits;             /* the cgroup keys above */
  struct rlimit rlimits[RL_COUNT];     /* "nofile" / "nproc" / "core": SOFT HARD, each a
                                          number or "max" (unlimited), soft <= hard */
  struct env_var env[ENV_MAX];         /* "env": NAME=VALUE items, space separated, each
                                          VALUE percent-encoded (may be empty) */
  unsigned n_env;
  enum restart_mode restart;       /* "restart": idle | login | manual */
  unsigned user_may;               /* "user_may": key names, space separated (bits) */
  enum seccomp_profile seccomp;    /* "seccomp": default | strict | unconfined */
  bool nested_userns;              /* "nested_userns": true | false; under default, lets
                                          the user create user namespaces and mount in them
                                          (never true with strict) */
  uint32_t udp_ports;              /* "udp_ports": host UDP ports published into the
                                          container, LO << 16 | HI; 0 for none */
  char image[IMAGE_VALUE_MAX + 1]; /* "image": "host", or "NAME ID": an image of the store
                                          and its layer list's id (64 hex digits) */
  char layer[LAYER_VALUE_MAX + 1]; /* "layer": "temporary BYTES" or "persistent BYTES", an
                                          image's writable layer and its size (layer_parse) */
  char root[ROOT_VALUE_MAX + 1];   /* "root": "none", or root inside on these ids (root_parse) */
  uint64_t record_hash;            /* not a key: FNV-1a 64 of the record's lines, so a
                                          container can tell the policy changed */
};

/* Find the record for uid in a compiled policy of len bytes at buf (a mapping
 * of the file: nothing past the record's own bytes and the index lines on the
 * way is read) and copy it into *out. Returns 1 if found, 0 if the file has no
 * such user, and -1 if what it read is invalid, with a reason in err. */
int policy_lookup(const char *buf, size_t len, uid_t uid, struct user_policy *out, char *err, size_t errlen);

/* Read the compiled policy at its compiled-in path after checking that it and
 * every folder above it belong to root and are writable by nobody else; dies with
 * EXIT_CONFIG if not, EXIT_REFUSED if the caller has no record. */
void policy_load(uid_t uid, struct user_policy *out);

/* The same look-up on an open fd of the policy (mapped, then unmapped), with no
 * trust checks: the launcher's, which only chooses a route. */
int policy_lookup_fd(int fd, uid_t uid, struct user_policy *out, char *err, size_t errlen);

/* Call fn with every record of the policy open on fd, in uid order (root's
 * verbs only: a login never reads the records of others). Returns 1, or -1
 * with a reason in err if the file is invalid (fn may have seen some). */
int policy_each_fd(int fd, void (*fn)(const struct user_policy *u, void *arg), void *arg, char *err, size_t errlen);
/* Apply one setting the user chose ("key=value", the key one of user_may_key,
 * the value in this file's notation) on top of the admin's record: refused
 * unless the record lets the user set that key and the value is no more than
 * the admin's (limits only lower, network only "none" unless the admin gives
 * "host"). Returns true, or false with a reason in err. */
bool policy_override(struct user_policy *u, const char *setting, char *err, size_t errlen);

/* Is name a variable the policy may set (not one cellsh sets itself)? */
bool valid_env_name(const char *name);

/* Validators shared with the parser and the environment filter. */
bool valid_name(const char *s);
bool valid_abs_path(const char *s);
bool valid_hostname(const char *s);
/* An image name as the store names one: [a-z0-9][a-z0-9._-]*, at most IMAGE_NAME_MAX. */
bool valid_image_name(const char *s);
/* "host", or "NAME ID" with a valid name (not "host") and 64 lowercase hex digits. */
bool valid_image_value(const char *s);

/* "layer": "MODE BYTES", MODE a word of LAYER_NAMES; BYTES 0 (no limit:
 * temporary only) or DISK_MIN up to below SIZE_LIMIT. */
bool layer_parse(const char *s, enum layer_mode *mode, uint64_t *bytes);
bool valid_layer_value(const char *s);

/* "root": the first host ids of the user's ID_RANGE subordinate uids and gids,
 * which ids 0..ID_RANGE-1 inside map onto (but their own uid and gid, mapped to
 * themselves), and of the image store's, which its layers are mapped from. */
struct root_ids {
  uint32_t sub_uid, sub_gid, store_uid, store_gid;
};
/* "none" (false, *out zeroed) or four ids, each range within 32 bits and
 * above 0, the user's own uid and gid in neither of theirs: true. *valid says
 * whether s was either. */
bool root_parse(const char *s, uid_t uid, gid_t gid, struct root_ids *out, bool *valid);
bool valid_root_value(const char *s);

/* FNV-1a 64 over len bytes. */
uint64_t fnv1a64(const char *p, size_t len);

#endif
