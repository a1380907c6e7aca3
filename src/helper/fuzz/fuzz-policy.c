/* The compiled policy's look-up (policy_lookup). Root writes the file, but the
 * reader must never crash or misread on any input. The input is tried twice:
 * as a whole file, and as the records of a file whose header, index and
 * checksum policy_build writes around them, so the fuzzer explores the
 * records instead of stopping at the index.
 *
 * Invariants: the result is -1 (with a reason), 0 or 1, and never reads past
 * the input (ASan: the input is copied to a buffer of exactly its size); uid 0
 * is never served; each record served is the one asked for, meets every bound
 * policy.h documents (check_record) and carries the FNV-1a hash of exactly its
 * own bytes, "user" to "end". With a written index whose uids increase, every
 * uid it lists is served or refused (never absent) and no other is served. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../policy-build.h"
#include "../util.h"
#include "fuzz.h"

#define MAX_UIDS 16 /* uids looked up per input */

static uint64_t fnv(const char *p, size_t len) {
  uint64_t h = 0xcbf29ce484222325ull;
  while (len--)
    h = (h ^ (unsigned char)*p++) * 0x100000001b3ull;
  return h;
}

/* Look uid up in the len bytes at buf; returns the result after checking it. */
static int check_lookup(const char *buf, size_t len, uid_t uid) {
  struct user_policy u;
  char err[256] = "";
  int r = policy_lookup(buf, len, uid, &u, err, sizeof err);
  CHECK(r >= -1 && r <= 1, "uid %u gave %d", (unsigned)uid, r);
  CHECK(r >= 0 || err[0] != '\0', "refused without a reason");
  if (r == 1) {
    CHECK(uid != 0, "uid 0 was served");
    CHECK(u.uid == uid, "asked for uid %u, got %u", (unsigned)uid, (unsigned)u.uid);
    check_record(&u);
    /* The record's bytes are "user <uid>\n" ... "end\n" somewhere in buf. */
    char head[24];
    int n = snprintf(head, sizeof head, "user %u\n", (unsigned)uid);
    const char *start = memmem(buf, len, head, (size_t)n);
    bool hashed = false;
    for (; start && !hashed; start = memmem(start + 1, len - (size_t)(start + 1 - buf), head, (size_t)n)) {
      const char *end = memmem(start, len - (size_t)(start - buf), "\nend\n", 5);
      hashed = end && u.record_hash == fnv(start, (size_t)(end + 5 - start));
    }
    CHECK(hashed, "record_hash is not the hash of the record's own lines");
  }
  return r;
}

/* The uids of the "user N" lines of buf (at most MAX_UIDS), in order. */
static unsigned named_uids(const char *buf, size_t len, uint32_t *uids) {
  unsigned n = 0;
  for (size_t at = 0; at < len && n < MAX_UIDS;) {
    const char *nl = memchr(buf + at, '\n', len - at);
    size_t end = nl ? (size_t)(nl - buf) : len;
    char line[24] = "";
    if (end - at < sizeof line) {
      memcpy(line, buf + at, end - at);
      if (!strncmp(line, "user ", 5) && parse_u32(line + 5, &uids[n]))
        n++;
    }
    at = end + 1;
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* As a whole file, in a buffer of exactly its size. */
  char *raw = malloc(size ? size : 1);
  if (!raw)
    abort();
  memcpy(raw, data, size);
  uint32_t uids[MAX_UIDS];
  unsigned n = named_uids(raw, size, uids);
  check_lookup(raw, size, 0);
  for (unsigned i = 0; i < n; i++)
    check_lookup(raw, size, uids[i]);
  free(raw);

  /* As records inside a written index. */
  size_t len;
  char *built = policy_build((const char *)data, size, &len);
  int r;
  char *file = malloc(len);
  if (!file)
    abort();
  memcpy(file, built, len);
  free(built);
  /* The uids policy_build indexed, from its own index lines. */
  uint64_t count = strtoull(file + sizeof POLICY_MAGIC + 6, NULL, 10);
  uint32_t prev = 0;
  bool increasing = true;
  for (uint64_t i = 0; i < count; i++) {
    uint32_t uid = (uint32_t)strtoul(file + POLICY_HEAD_LEN + i * INDEX_ENTRY_LEN, NULL, 10);
    increasing = increasing && uid > prev;
    prev = uid;
  }
  for (uint64_t i = 0; i < count && i < MAX_UIDS; i++) {
    uint32_t uid = (uint32_t)strtoul(file + POLICY_HEAD_LEN + i * INDEX_ENTRY_LEN, NULL, 10);
    r = check_lookup(file, len, uid);
    CHECK(!increasing || r != 0, "uid %u is in an ordered index but was not found", uid);
  }
  for (unsigned i = 0; i < n; i++)
    check_lookup(file, len, uids[i]);
  r = check_lookup(file, len, 4294967294u);
  CHECK(r != 1 || memmem(data, size, "user 4294967294\n", 16), "uid 4294967294 served but not named");
  free(file);
  return 0;
}
