/* Test-only, never installed: keep UDP ports through the real port-guard.c as
 * another cellsh installation on the host would (this binary's STATE_DIR gives
 * it a tag of its own), to see the two keep their ports apart.
 *
 *   test-port-guard NAT_UID [LO HI]...   keep exactly these ports (none: free all)
 *
 * Prints "kept" or the reason it could not; exits 0 or 1. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>

#include "port-guard.h"
#include "util.h"

int main(int argc, char **argv) {
  prog_name = "test-port-guard";
  static struct port_set want;
  uint32_t uid, lo, hi;
  if (argc < 2 || argc % 2 || !parse_u32(argv[1], &uid))
    die(EXIT_USAGE, "usage: test-port-guard NAT_UID [LO HI]...");
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!parse_u32(argv[i], &lo) || !parse_u32(argv[i + 1], &hi) || lo > hi || hi > 65535)
      die(EXIT_USAGE, "\"%s %s\" is not a port range", argv[i], argv[i + 1]);
    port_set_add(&want, lo, hi);
  }
  int host = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  char err[512] = "";
  bool ok = host >= 0 && port_guard_keep(uid, &want, true, host, err, sizeof err);
  printf("%s\n", ok ? "kept" : err);
  return ok ? 0 : 1;
}
