/* The helper's argv grammar (parse_args, valid_notice): any local user can exec
 * the helper with any argv. The input is argv[1..], split on NUL bytes.
 *
 * Invariants: an accepted argv is exactly the one the grammar in args.h builds
 * from the request (so nothing outside the grammar is accepted, and nothing
 * accepted is misread); stop never carries a command, pty or --set; the pty
 * mask is 1-7 with sizes in range; at most MAX_SETS sets, each KEY=VALUE of at
 * most SET_MAX bytes; a refusal says why; any word is a command for "run";
 * valid_notice matches its contract. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "../args.h"
#include "fuzz.h"

#define MAX_ARGV 64

/* valid_notice's contract, restated: 1-NOTICE_MAX bytes, no C0 control or DEL. */
static bool notice_contract(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > NOTICE_MAX)
    return false;
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return false;
  return true;
}

/* The argv (without argv[0]) that the grammar builds for req. */
static int rebuild(const struct request *req, char **out, char bufs[2][32]) {
  int n = 0;
  if (req->verb == VERB_STOP) {
    out[n++] = "stop";
    if (req->has_stop_uid) {
      snprintf(bufs[0], sizeof bufs[0], "%u", (unsigned)req->stop_uid);
      out[n++] = bufs[0];
    }
    if (req->notice) {
      out[n++] = "--notice";
      out[n++] = (char *)(uintptr_t)req->notice;
    }
    return n;
  }
  if (req->verb == VERB_NETNS || req->verb == VERB_PORTS) {
    out[n++] = req->verb == VERB_NETNS ? "netns" : "ports";
    return n;
  }
  out[n++] = req->verb == VERB_RUN ? "run" : "login";
  if (req->pty_mask) {
    out[n++] = "--pty";
    snprintf(bufs[1], sizeof bufs[1], "%u:%ux%u", req->pty_mask, req->rows, req->cols);
    out[n++] = bufs[1];
  }
  if (req->agent)
    out[n++] = "--agent";
  for (unsigned i = 0; i < req->n_sets; i++) {
    out[n++] = "--set";
    out[n++] = (char *)(uintptr_t)req->sets[i];
  }
  if (req->verb == VERB_RUN)
    out[n++] = req->command;
  return n;
}

static void check_accepted(int argc, char **argv, const struct request *req) {
  CHECK(req->verb == VERB_LOGIN || req->verb == VERB_RUN || req->verb == VERB_STOP || req->verb == VERB_NETNS ||
            req->verb == VERB_PORTS,
        "verb %d", (int)req->verb);
  if (req->verb == VERB_NETNS || req->verb == VERB_PORTS) {
    CHECK(!req->command && !req->pty_mask && !req->agent && req->n_sets == 0 && !req->has_stop_uid && !req->notice,
          "%s with anything else", shown(argv[1]));
  } else if (req->verb == VERB_STOP) {
    CHECK(!req->command && !req->pty_mask && !req->agent && req->n_sets == 0, "stop with a command, pty, agent or set");
    CHECK(!req->has_stop_uid || (req->stop_uid != 0 && req->stop_uid != (uid_t)-1), "stop uid %u", (unsigned)req->stop_uid);
    CHECK(!req->notice || (req->has_stop_uid && notice_contract(req->notice)), "a notice outside its contract");
  } else {
    CHECK(!req->has_stop_uid && !req->notice, "a stop uid or notice on %s", shown(argv[1]));
    CHECK((req->verb == VERB_RUN) == (req->command != NULL), "a command iff run");
  }
  CHECK(req->pty_mask <= 7, "pty mask %u", req->pty_mask);
  CHECK(req->pty_mask ? req->rows >= 1 && req->rows <= PTY_MAX_DIM && req->cols >= 1 && req->cols <= PTY_MAX_DIM
                      : req->rows == 0 && req->cols == 0,
        "pty size %ux%u", req->rows, req->cols);
  CHECK(req->n_sets <= MAX_SETS, "%u sets", req->n_sets);
  for (unsigned i = 0; i < req->n_sets; i++)
    CHECK(strchr(req->sets[i], '=') && strlen(req->sets[i]) <= SET_MAX, "set %u is not a KEY=VALUE in bounds", i);
  char *again[MAX_ARGV + 8], bufs[2][32];
  int n = rebuild(req, again, bufs);
  CHECK(n == argc - 1, "accepted %d words, the grammar gives %d", argc - 1, n);
  for (int i = 0; i < n; i++)
    CHECK(!strcmp(again[i], argv[i + 1]), "word %d \"%s\" reads back as \"%s\"", i + 1, shown(argv[i + 1]), shown(again[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *words[MAX_ARGV + 1], *argv[MAX_ARGV + 2];
  size_t n = fuzz_strings(data, size, words, MAX_ARGV);
  argv[0] = "cellsh-helper";
  memcpy(argv + 1, words, (n + 1) * sizeof *words);
  int argc = (int)n + 1;
  struct request req;
  char err[256];
  err[0] = '\0';
  if (parse_args(argc, argv, &req, err, sizeof err))
    check_accepted(argc, argv, &req);
  else
    CHECK(err[0] != '\0', "refused without a reason");
  for (size_t i = 0; i < n; i++) {
    CHECK(valid_notice(words[i]) == notice_contract(words[i]), "valid_notice disagrees on argument %zu", i + 1);
    /* Any word is a command: "run COMMAND" (the launcher's fast path) reads it back whole. */
    char *run[] = {"cellsh-helper", "run", words[i], NULL};
    CHECK(parse_args(3, run, &req, err, sizeof err) && req.command == words[i] && !req.pty_mask && !req.agent &&
              req.n_sets == 0,
          "\"run %s\" is not read as that command (%s)", shown(words[i]), err);
  }
  fuzz_strings_free(words);
  return 0;
}
