/* The launcher's reading of its own argv and environment (route_of in
 * launcher.c), which runs as the user and decides whether a session may skip
 * Node. route_of is static, so launcher.c is compiled into this harness with
 * its main renamed; only route_of is called. The first input byte is the number
 * of argv words (0-7); the rest, split on NUL bytes, is argv[1..] and then envp.
 *
 * Invariants: a plain login only for "-l"/"--login" words; a plain command
 * only for exactly one "-c" (or "-lc", "-cl") with its command, never cellsh
 * itself; neither with an agent socket to relay or for a ForceCommand
 * (SSH_ORIGINAL_COMMAND without -c); and the helper argv the fast path builds
 * from a command ("run" COMMAND) is read back as that command. */
#define _GNU_SOURCE
#include <string.h>

#define main launcher_main
int launcher_main(int argc, char **argv);
#include "../launcher.c"
#undef main

#include "fuzz.h"

#define MAX_WORDS 64

static bool is_login_flag(const char *s) {
  return !strcmp(s, "-l") || !strcmp(s, "--login");
}

static bool is_command_flag(const char *s) {
  return !strcmp(s, "-c") || !strcmp(s, "-lc") || !strcmp(s, "-cl");
}

static void check_route(int argc, char **argv, const struct kept_env *env, enum route r, const char *cmd) {
  if (r == ROUTE_NODE)
    return; /* Node decides: always safe */
  CHECK(r == ROUTE_LOGIN || r == ROUTE_COMMAND, "route %d", (int)r);
  CHECK(!env_value(env, "SSH_AUTH_SOCK"), "skipping Node with an agent to relay");
  int commands = 0;
  for (int i = 1; i < argc; i++) {
    if (is_command_flag(argv[i]) && i + 1 < argc && commands == 0) {
      CHECK(argv[i + 1] == cmd, "the command is not the word after %s", argv[i]);
      commands++;
      i++;
      continue;
    }
    CHECK(is_login_flag(argv[i]), "skipping Node with argument \"%s\"", shown(argv[i]));
  }
  if (r == ROUTE_LOGIN) {
    CHECK(!cmd && commands == 0, "a login route with a command");
    CHECK(!env_value(env, "SSH_ORIGINAL_COMMAND"), "a login route for a ForceCommand");
    return;
  }
  CHECK(cmd && commands == 1, "a command route without one -c command");
  const char *base = strrchr(cmd, '/');
  CHECK(strcmp(base ? base + 1 : cmd, "cellsh"), "a command route for cellsh itself");
  char *hargv[] = {"cellsh-helper", "run", (char *)(uintptr_t)cmd, NULL};
  struct request req;
  char err[256];
  CHECK(parse_args(3, hargv, &req, err, sizeof err) && req.command == cmd,
        "the helper does not read \"run %s\" back as the command (%s)", shown(cmd), err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  char *words[MAX_WORDS + 1], *argv[MAX_WORDS + 2];
  size_t n = fuzz_strings(data + 1, size - 1, words, MAX_WORDS);
  size_t n_args = data[0] % 8 < n ? data[0] % 8 : n;
  argv[0] = "-cellsh";
  memcpy(argv + 1, words, n_args * sizeof *words);
  argv[n_args + 1] = NULL;
  struct kept_env env;
  env_keep(words + n_args, &env);
  char *cmd;
  int argc = (int)n_args + 1;
  enum route r = route_of(argc, argv, &env, &cmd);
  check_route(argc, argv, &env, r, cmd);
  for (size_t k = 0; k < env.n; k++)
    free(env.vars[k]);
  fuzz_strings_free(words);
  return 0;
}
