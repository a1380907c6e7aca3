#define _GNU_SOURCE
#include "args.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

bool valid_notice(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > NOTICE_MAX)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return false; /* no control characters: it is printed on users' terminals */
  return true;
}

bool parse_pty_spec(const char *s, unsigned *mask, unsigned short *rows, unsigned short *cols) {
  char buf[32];
  if (strlen(s) >= sizeof buf)
    return false;
  strcpy(buf, s);
  char *colon = strchr(buf, ':');
  char *x = colon ? strchr(colon + 1, 'x') : NULL;
  if (!colon || !x)
    return false;
  *colon = '\0';
  *x = '\0';
  uint32_t m, r, c;
  if (!parse_u32(buf, &m) || !parse_u32(colon + 1, &r) || !parse_u32(x + 1, &c))
    return false;
  if (m < 1 || m > 7 || r < 1 || r > PTY_MAX_DIM || c < 1 || c > PTY_MAX_DIM)
    return false;
  *mask = m;
  *rows = (unsigned short)r;
  *cols = (unsigned short)c;
  return true;
}

bool parse_args(int argc, char **argv, struct request *req, char *err, size_t errlen) {
  memset(req, 0, sizeof *req);
  if (argc < 2 || !argv[0]) {
    snprintf(err, errlen, "usage: cellsh-helper login|run|stop|netns|ports ...");
    return false;
  }
  static const char *const verbs[VERB_COUNT] = VERB_NAMES;
  int i = 2;
  const char *verb = argv[1];
  int v = 0;
  while (v < VERB_COUNT && strcmp(verb, verbs[v]))
    v++;
  if (v == VERB_COUNT) {
    snprintf(err, errlen, "unknown verb \"%.64s\"", verb);
    return false;
  }
  req->verb = (enum verb)v;
  if (req->verb == VERB_STOP) {
    if (argc == 3 || argc == 5) {
      uint32_t uid;
      if (!parse_u32(argv[2], &uid) || uid == 0 || uid == UINT32_MAX) {
        snprintf(err, errlen, "stop: \"%.64s\" is not a uid", argv[2]);
        return false;
      }
      req->has_stop_uid = true;
      req->stop_uid = uid;
    }
    if (argc == 5) {
      if (strcmp(argv[3], "--notice") || !valid_notice(argv[4])) {
        snprintf(err, errlen, "stop: --notice wants 1-%d printable characters", NOTICE_MAX);
        return false;
      }
      req->notice = argv[4];
    } else if (argc != 2 && argc != 3) {
      snprintf(err, errlen, "usage: cellsh-helper stop [UID [--notice TEXT]]");
      return false;
    }
    return true;
  }
  if (req->verb == VERB_NETNS || req->verb == VERB_PORTS) {
    if (argc == 2)
      return true;
    snprintf(err, errlen, "usage: cellsh-helper %s", verbs[v]);
    return false;
  }
  /* run keeps its last word for the command, even if that is an option's name. */
  int last = argc - (req->verb == VERB_RUN);
  if (i < last && !strcmp(argv[i], "--pty")) {
    if (i + 1 >= last || !parse_pty_spec(argv[i + 1], &req->pty_mask, &req->rows, &req->cols)) {
      snprintf(err, errlen, "--pty wants MASK:ROWSxCOLS (MASK 1-7, sizes 1-%d)", PTY_MAX_DIM);
      return false;
    }
    i += 2;
  }
  if (i < last && !strcmp(argv[i], "--agent")) {
    req->agent = true;
    i++;
  }
  while (i < last && !strcmp(argv[i], "--set")) {
    if (i + 1 >= last || req->n_sets == MAX_SETS || !strchr(argv[i + 1], '=') ||
        strlen(argv[i + 1]) > SET_MAX) {
      snprintf(err, errlen, "--set wants KEY=VALUE (at most %d of them)", MAX_SETS);
      return false;
    }
    req->sets[req->n_sets++] = argv[i + 1];
    i += 2;
  }
  if (req->verb == VERB_RUN) {
    if (i + 1 != argc) {
      snprintf(err, errlen, "usage: cellsh-helper run [--pty SPEC] [--agent] [--set KEY=VALUE]... COMMAND");
      return false;
    }
    req->command = argv[i];
  } else if (i != argc) {
    snprintf(err, errlen, "usage: cellsh-helper login [--pty SPEC] [--agent]");
    return false;
  }
  return true;
}
