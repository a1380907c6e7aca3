/* The launcher's reading of its own argv and environment (invocation_of in
 * launcher.c), which runs as the user and decides whether a session may skip
 * Node. invocation_of is static, so launcher.c is compiled into this harness with
 * its main renamed; only invocation_of is called. The first input byte is the number
 * of argv words (0-7); the rest, split on NUL bytes, is argv[1..] and then envp.
 *
 * Invariants: a plain login only for "-l"/"--login" words; a plain command
 * only for exactly one "-c" (or "-lc", "-cl") with its command, never one
 * named cellsh; an agent socket to relay changes nothing (the launcher relays
 * it itself, agent-relay.c). A ForceCommand session
 * (-c with this program's own path, or SSH_ORIGINAL_COMMAND without -c)
 * routes as its request: the client's command as it is (internal-sftp as the
 * sftp server with the same words), a login only when it asked for none; and
 * the helper argv the fast path builds from a command ("run" COMMAND) is
 * read back as that command. */
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

/* Past the first word of s (JavaScript's ASCII white space before and after it). */
static const char *after_first_word(const char *s) {
  while (js_space(*s))
    s++;
  while (*s && !js_space(*s))
    s++;
  return s;
}

/* Are the words of a and b after the first of each the same? */
static bool same_words_after_first(const char *a, const char *b) {
  a = after_first_word(a);
  b = after_first_word(b);
  for (;;) {
    while (js_space(*a))
      a++;
    while (js_space(*b))
      b++;
    if (!*a || !*b)
      return !*a && !*b;
    while (*a && !js_space(*a))
      if (*a++ != *b++)
        return false;
    if (*b && !js_space(*b))
      return false;
  }
}

/* The command a forced session must run for the client's request. */
static void check_forced(const char *original, const char *cmd) {
  const char *p = original;
  while (js_space(*p))
    p++;
  bool sftp = !strncmp(p, "internal-sftp", 13) && (!p[13] || js_space(p[13]));
  if (!sftp) {
    CHECK(!strcmp(cmd, original), "a forced session runs \"%s\", not the request", shown(cmd));
    return;
  }
  bool server = false;
  for (size_t i = 0; i < sizeof sftp_servers / sizeof *sftp_servers; i++) {
    size_t n = strlen(sftp_servers[i]);
    server |= !strncmp(cmd, sftp_servers[i], n) && (!cmd[n] || cmd[n] == ' ');
  }
  CHECK(server, "internal-sftp became \"%s\", not an sftp server", shown(cmd));
  CHECK(same_words_after_first(original, cmd), "internal-sftp's options changed: \"%s\"", shown(cmd));
}

static void check_route(int argc, char **argv, const struct kept_env *env, enum invocation r, const char *cmd) {
  if (r == INVOCATION_OTHER)
    return; /* Node decides: always safe */
  CHECK(r == INVOCATION_LOGIN || r == INVOCATION_COMMAND, "route %d", (int)r);
  const char *word = NULL;
  for (int i = 1; i < argc; i++) {
    if (is_command_flag(argv[i]) && i + 1 < argc && !word) {
      word = argv[++i];
      continue;
    }
    CHECK(is_login_flag(argv[i]), "skipping Node with argument \"%s\"", shown(argv[i]));
  }
  CHECK(!word || self_name(word) != SELF_NAMED, "skipping Node for a command named cellsh");
  const char *original = env_value(env, "SSH_ORIGINAL_COMMAND");
  if (word ? self_name(word) == SELF_EXACT : original != NULL) {
    bool asked = original && *original;
    CHECK(r == (asked ? INVOCATION_COMMAND : INVOCATION_LOGIN), "a ForceCommand session routed apart from its request");
    if (asked)
      check_forced(original, cmd);
  } else if (r == INVOCATION_LOGIN) {
    CHECK(!cmd && !word, "a login route with a command");
    return;
  } else {
    CHECK(cmd == word, "the command is not the word after -c");
  }
  if (r == INVOCATION_LOGIN)
    return;
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
  enum invocation r = invocation_of(argc, argv, &env, &cmd);
  check_route(argc, argv, &env, r, cmd);
  for (size_t k = 0; k < env.n; k++)
    free(env.vars[k]);
  fuzz_strings_free(words);
  return 0;
}
