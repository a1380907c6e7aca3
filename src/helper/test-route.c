/* Test-only: the launcher's invocation_of on many invocations at once, for a test
 * that holds it against Node's reading of the same (src/session/invocation.ts).
 * launcher.c is compiled in with its main renamed (invocation_of is static there).
 *
 * stdin: records of NUL-terminated strings: argc, then the number of
 * environment entries, then argv (argv[0] included) and the entries.
 * stdout: a line per record: "node", "login", or "command HEX" (the command's
 * bytes in hex).
 *
 * "test-route choose": choose_route on lines "INVOCATION TERMINALS PLAIN RUNNABLE"
 * (enum values and 0/1), a route's enum value per line. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define main launcher_main
int launcher_main(int argc, char **argv);
#include "launcher.c"
#undef main

static char *next_string(void) {
  char *s = NULL;
  size_t cap = 0;
  if (getdelim(&s, &cap, '\0', stdin) < 0) {
    free(s);
    return NULL;
  }
  return s;
}

static int next_count(void) {
  char *s = next_string();
  int n = s ? atoi(s) : -1;
  free(s);
  return n;
}

static void free_all(char **v, int n) {
  for (int i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

static int fact_plain, fact_runnable, asked_plain, asked_runnable;
static bool plain_fact(void) {
  asked_plain++;
  return fact_plain;
}
static bool runnable_fact(void) {
  asked_runnable++;
  return fact_runnable;
}

/* Prints the route and how often each costly fact was asked for. */
static int choose_lines(void) {
  int inv, term;
  while (scanf("%d %d %d %d", &inv, &term, &fact_plain, &fact_runnable) == 4) {
    asked_plain = asked_runnable = 0;
    enum session_route r = choose_route((enum invocation)inv, (enum terminals)term, plain_fact, runnable_fact);
    printf("%d %d %d\n", (int)r, asked_plain, asked_runnable);
  }
  return 0;
}

int main(int n_args, char **args) {
  if (n_args == 2 && !strcmp(args[1], "choose"))
    return choose_lines();
  for (;;) {
    int argc = next_count(), n_env = next_count();
    if (argc < 1 || n_env < 0)
      return argc == -1 ? 0 : 2;
    char **argv = calloc((size_t)argc + 1, sizeof *argv), **envp = calloc((size_t)n_env + 1, sizeof *envp);
    if (!argv || !envp)
      return 2;
    for (int i = 0; i < argc; i++)
      if (!(argv[i] = next_string()))
        return 2;
    for (int i = 0; i < n_env; i++)
      if (!(envp[i] = next_string()))
        return 2;
    struct kept_env env;
    env_keep(envp, &env);
    char *cmd;
    enum invocation r = invocation_of(argc, argv, &env, &cmd);
    if (r == INVOCATION_OTHER)
      puts("node");
    else if (r == INVOCATION_LOGIN)
      puts("login");
    else {
      fputs("command ", stdout);
      for (const unsigned char *p = (const unsigned char *)cmd; *p; p++)
        printf("%02x", *p);
      putchar('\n');
    }
    for (size_t k = 0; k < env.n; k++)
      free(env.vars[k]);
    free_all(argv, argc);
    free_all(envp, n_env);
  }
}
