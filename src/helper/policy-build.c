#define _GNU_SOURCE
#include "policy-build.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "util.h"

#define COMMENT "# built by a test\n"

struct chunk {
  size_t at, len;
  uint32_t uid;
  bool indexed;
};

/* Where the chunk at p ends: just past the next "end\n" line, or at the end. */
static size_t chunk_end(const char *s, size_t len, size_t p) {
  while (p < len) {
    const char *nl = memchr(s + p, '\n', len - p);
    size_t next = nl ? (size_t)(nl - s) + 1 : len;
    if (next - p == 4 && !memcmp(s + p, "end\n", 4))
      return next;
    p = next;
  }
  return len;
}

char *policy_build(const char *records, size_t len, size_t *out_len) {
  size_t n = 0, cap = 16;
  struct chunk *c = malloc(cap * sizeof *c);
  if (!c)
    abort();
  for (size_t p = 0; p < len; n++) {
    if (n == cap && !(c = realloc(c, (cap *= 2) * sizeof *c)))
      abort();
    size_t end = chunk_end(records, len, p);
    char first[24] = "";
    const char *nl = memchr(records + p, '\n', end - p);
    size_t first_len = nl ? (size_t)(nl - (records + p)) : end - p;
    if (first_len < sizeof first)
      memcpy(first, records + p, first_len);
    c[n] = (struct chunk){.at = p, .len = end - p};
    c[n].indexed = !strncmp(first, "user ", 5) && parse_u32(first + 5, &c[n].uid) && c[n].uid > 0 &&
                   c[n].uid < UINT32_MAX;
    p = end;
  }
  size_t indexed = 0;
  for (size_t i = 0; i < n; i++)
    indexed += c[i].indexed;
  size_t records_at = POLICY_HEAD_LEN + indexed * INDEX_ENTRY_LEN + sizeof COMMENT - 1;
  size_t total = records_at + len + 1 + 26 + 1;
  char *out = malloc(total + 1);
  if (!out)
    abort();
  size_t w = (size_t)sprintf(out, "%s\nindex %010zu\n", POLICY_MAGIC, indexed);
  for (size_t i = 0; i < n; i++)
    if (c[i].indexed)
      w += (size_t)sprintf(out + w, "%010u %016zu %08zu %016" PRIx64 "\n", c[i].uid, records_at + c[i].at, c[i].len,
                           fnv1a64(records + c[i].at, c[i].len));
  memcpy(out + w, COMMENT, sizeof COMMENT - 1);
  w += sizeof COMMENT - 1;
  memcpy(out + w, records, len);
  w += len;
  if (w > 0 && out[w - 1] != '\n')
    out[w++] = '\n';
  w += (size_t)sprintf(out + w, "checksum %016" PRIx64 "\n", fnv1a64(out, w));
  free(c);
  *out_len = w;
  return out;
}
