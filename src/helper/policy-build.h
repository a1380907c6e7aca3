/* Test and fuzz support, not part of the helper: a compiled policy around
 * records, with the header, index and checksum cellsh-admin writes
 * (formatCompiled in src/policy/compiled.ts). */
#ifndef CELLSH_POLICY_BUILD_H
#define CELLSH_POLICY_BUILD_H

#include <stddef.h>

/* records holds len bytes: records as "user N\n" ... "end\n", one after the
 * other. Each chunk up to and including an "end" line whose first line is
 * "user <uid>" gets an index line, in the order given (so records out of uid
 * order make an index out of order); other chunks are kept unindexed.
 * Returns a malloc'd, NUL-terminated file and its length in *out_len. */
char *policy_build(const char *records, size_t len, size_t *out_len);

#endif
