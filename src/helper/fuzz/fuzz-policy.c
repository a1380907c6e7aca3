/* The compiled policy's parser (policy_parse). Root writes the file, but the
 * parser must never crash or misread on any input. The input is a whole file;
 * it is parsed as given, and again with its checksum line recomputed, so the
 * fuzzer explores the records instead of stopping at the checksum.
 *
 * Invariants: the result is -1 (with a reason), 0 or 1; a valid file serves
 * every uid it has a "user" line for, and no other; each record served meets
 * every bound policy.h documents (check_record) and carries the FNV-1a hash of
 * exactly its own lines, "user" to "end". */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"
#include "fuzz.h"

#define MAX_UIDS 16 /* records checked per input */

static uint64_t fnv(const char *p, size_t len) {
  uint64_t h = 0xcbf29ce484222325ull;
  while (len--)
    h = (h ^ (unsigned char)*p++) * 0x100000001b3ull;
  return h;
}

/* Where the record for uid starts ("user <uid>\n" at a line start), or NULL. */
static const char *record_of(const char *buf, uid_t uid) {
  char want[32];
  snprintf(want, sizeof want, "\nuser %u\n", (unsigned)uid);
  const char *p = strstr(buf, want);
  return p ? p + 1 : NULL;
}

static void check_served(const char *buf, uid_t uid) {
  struct user_policy u;
  char err[256] = "";
  int r = policy_parse(buf, uid, &u, err, sizeof err);
  CHECK(r == 1, "a valid file does not serve uid %u, which it names (%d: %s)", (unsigned)uid, r, err);
  CHECK(u.uid == uid, "asked for uid %u, got %u", (unsigned)uid, (unsigned)u.uid);
  check_record(&u);
  const char *start = record_of(buf, uid), *end = start ? strstr(start, "\nend\n") : NULL;
  CHECK(end, "no \"user %u\" ... \"end\" lines for a record that was served", (unsigned)uid);
  CHECK(u.record_hash == fnv(start, (size_t)(end + 5 - start)), "record_hash is not the hash of the record's lines");
}

/* Parse buf (NUL-terminated) and check the invariants. */
static void check_file(const char *buf) {
  struct user_policy u;
  char err[256] = "";
  int r = policy_parse(buf, 0, &u, err, sizeof err); /* uid 0 is never served */
  CHECK(r == 0 || r == -1, "uid 0 gave %d", r);
  if (r < 0) {
    CHECK(err[0] != '\0', "refused without a reason");
    return;
  }
  /* Valid: every "user N" line starts a record (inside one it would be an
   * unknown key), so each such uid is served. */
  unsigned n = 0;
  for (const char *p = strstr(buf, "\nuser "); p && n < MAX_UIDS; p = strstr(p + 1, "\nuser "), n++) {
    uint32_t uid;
    char num[16] = "";
    size_t len = strcspn(p + 6, "\n");
    CHECK(len < sizeof num, "a served file has a \"user\" line with a long value");
    memcpy(num, p + 6, len);
    CHECK(parse_u32(num, &uid), "a served file has \"user %s\"", num);
    check_served(buf, uid);
  }
  CHECK(policy_parse(buf, 4294967294u, &u, err, sizeof err) == (record_of(buf, 4294967294u) != NULL),
        "uid 4294967294 served iff named");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (memchr(data, '\0', size))
    return 0; /* policy_load refuses a file with a NUL before parsing */
  char *buf = malloc(size + 40);
  if (!buf)
    abort();
  memcpy(buf, data, size);
  buf[size] = '\0';
  check_file(buf);
  /* Again with the checksum line recomputed: drop a last "checksum" line, end
   * the body with a newline, append the right checksum. */
  size_t body = size;
  if (body > 0 && buf[body - 1] == '\n')
    body--;
  while (body > 0 && buf[body - 1] != '\n')
    body--;
  if (strncmp(buf + body, "checksum ", 9) != 0) {
    body = size;
    if (body > 0 && buf[body - 1] != '\n')
      buf[body++] = '\n';
  }
  snprintf(buf + body, 40, "checksum %016" PRIx64 "\n", fnv(buf, body));
  check_file(buf);
  free(buf);
  return 0;
}
