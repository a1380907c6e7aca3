#!/usr/bin/env bash
# Formatting and lint over the whole repository, each check failing on any
# finding and printing them one a line:
#
#   biome: the TypeScript's formatting and lint (biome.jsonc; the version
#     pinned in package.json)
#   clang-format: the C's formatting (.clang-format; clang-format 14, Debian 12's)
#   c-analyzer: gcc's static analyzer (-fanalyzer) over every C file
#   the shell scripts: shellcheck (.shellcheckrc)
#
#   npm run lint                  every check
#   test/lint.sh CHECK...         only these (test/unit/repo/lint.test.ts runs one at a time)
#   npm run format                (test/lint.sh --format) rewrites the TypeScript and C in place
#
# Exit status: 0 nothing found, 1 findings, 77 a tool a check needs is not
# installed (the reason is printed; the unit test skips then, and "npm run lint"
# fails). Runs as any user in a checkout with node_modules (npm ci).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

CHECKS=(biome clang-format c-analyzer shellcheck)
SKIP=77
CLANG_FORMAT=clang-format-14

say() { printf '%s\n' "$*"; }
skip() { printf 'lint: %s\n' "$*"; exit "$SKIP"; }

# The repository's files matching the patterns: those git tracks or would add
# (a new file is checked before its commit), or every file outside the
# ignored folders where this is not a git checkout.
files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard -- "$@" | while IFS= read -r f; do
      [ -f "$f" ] && printf '%s\n' "$f"
    done | sort -u
  else
    local args=() p
    for p in "$@"; do args+=(-o -path "./$p"); done
    find . \( -path ./node_modules -o -path ./dist -o -path ./build -o -path ./.git \) -prune -o \
      \( -false "${args[@]}" \) -type f -print | sed 's|^\./||' | sort
  fi
}

c_files() { files '*.c' '*.h'; }

# Shell scripts: *.sh, and files whose first line runs sh or bash (.ci/run).
shell_files() {
  local f first
  files '*' | while IFS= read -r f; do
    case $f in
      *.sh) printf '%s\n' "$f" ;;
      *.ts | *.c | *.h | *.md | *.json | *.yaml | *.yml) ;;
      *)
        first=
        IFS= read -r first <"$f" 2>/dev/null || true
        case $first in '#!'*[/\ ]sh | '#!'*[/\ ]bash | '#!'*[/\ ]sh\ * | '#!'*[/\ ]bash\ *) printf '%s\n' "$f" ;; esac
        ;;
    esac
  done
}

check_biome() {
  [ -x node_modules/.bin/biome ] || skip "biome is not installed (npm ci installs it: a devDependency)"
  local out status=0
  out=$(node_modules/.bin/biome ci --reporter=concise --colors=off --max-diagnostics=none --error-on-warnings 2>&1) ||
    status=$?
  # Every diagnostic counts, infos too (biome ci would pass on those).
  local found
  found=$(grep -E '^[×!i] ' <<<"$out" || true)
  if [ -n "$found" ]; then
    say "$found"
    say "biome: $(grep -c '' <<<"$found") findings (npm run format fixes the formatting ones)"
    return 1
  fi
  if [ "$status" -ne 0 ]; then
    say "$out"
    return 1
  fi
}

clang_format_tool() {
  command -v "$CLANG_FORMAT" >/dev/null ||
    skip "$CLANG_FORMAT is not installed (test/run.sh installs it: apt-get install clang-format-14)"
}

check_clang_format() {
  clang_format_tool
  local out
  mapfile -t cfiles < <(c_files)
  # One line per place clang-format would change, without the source excerpt.
  out=$("$CLANG_FORMAT" --dry-run --ferror-limit=0 "${cfiles[@]}" 2>&1 | grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' || true)
  if [ -n "$out" ]; then
    say "$out" | sed 's/ \[-Wclang-format-violations\]$//'
    say "clang-format: $(grep -c '' <<<"$out") places in $(cut -d: -f1 <<<"$out" | sort -u | grep -c '') files (npm run format fixes them)"
    return 1
  fi
}

# gcc's analyzer over each C file, compiled the way the Makefile does (the
# generated headers in build/ included), at -O0: optimisation merges loads
# before the analyzer runs, and gcc 12 then reports a static struct's
# zero-filled fields as uninitialised (cgroup-v2.c's `none`).
ANALYZER_FLAGS=(-std=gnu11 -O0 -fdiagnostics-path-format=none -fno-diagnostics-show-caret -fdiagnostics-color=never
  -DCELLSH_POLICY_PATH='"/var/lib/cellsh/policy.compiled"' -DCELLSH_STATE_DIR='"/run/cellsh"'
  -DCELLSH_LOG_PATH='"/var/log/cellsh/cellsh.log"' -DCELLSH_CGROUP_NAME='"cellsh"'
  -DCELLSH_LIBDIR='"/usr/local/lib/cellsh"' -DCELLSH_LAUNCHER='"/usr/local/bin/cellsh"'
  -DCELLSH_NODE='"/usr/bin/node"' -I"$REPO/build")
# The analyzer takes about 35 s of CPU over all the C, so what it said about a
# file is kept under build/, keyed by the preprocessed file (the headers it
# includes are in it), the flags and gcc's version: only what changed is analysed again.
ANALYZER_CACHE=$REPO/build/lint-cache/c-analyzer

analyze_one() {
  local f=$1 key
  key=$({ printf '%s\n' "$ANALYZER_GCC" "${ANALYZER_FLAGS[@]}"; gcc "${ANALYZER_FLAGS[@]}" -E "$f" 2>&1; } |
    sha256sum | cut -c1-40)
  if [ -f "$ANALYZER_CACHE/$key" ]; then
    touch "$ANALYZER_CACHE/$key"
  else
    gcc "${ANALYZER_FLAGS[@]}" -fanalyzer -c -o /dev/null "$f" >"$ANALYZER_CACHE/$key.$$" 2>&1 || true
    mv "$ANALYZER_CACHE/$key.$$" "$ANALYZER_CACHE/$key"
  fi
  cat "$ANALYZER_CACHE/$key"
}

check_c_analyzer() {
  command -v gcc >/dev/null || skip "gcc is not installed (apt-get install gcc)"
  [ -f dist/src/contract/c-header.js ] || node_modules/.bin/tsc -p tsconfig.json
  make -s -C src/helper OUT="$REPO/build" "$REPO/build/contract.h" "$REPO/build/seccomp-filters.h" >/dev/null 2>&1 ||
    skip "can't build build/contract.h and build/seccomp-filters.h, which the C includes (make -C src/helper; libseccomp-dev)"
  mkdir -p "$ANALYZER_CACHE"
  find "$ANALYZER_CACHE" -type f -mtime +7 -delete
  local out
  export -f analyze_one
  export ANALYZER_CACHE ANALYZER_FLAGS_TEXT ANALYZER_GCC
  ANALYZER_FLAGS_TEXT=$(declare -p ANALYZER_FLAGS) # an array is not exported: bash -c evals this
  ANALYZER_GCC=$(gcc --version | head -n 1)
  # One file per job, as many jobs as cores (bash -c: a function is not a program).
  # shellcheck disable=SC2016 # the single quotes are meant: that bash expands them
  out=$(c_files | grep '\.c$' | xargs -P "$(nproc)" -n 1 bash -c 'eval "$ANALYZER_FLAGS_TEXT"; analyze_one "$1"' _ |
    grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' | sed 's|^\(src/helper/\)\?fuzz/\.\./|src/helper/|' | sort -u || true)
  if [ -n "$out" ]; then
    say "$out"
    say "c-analyzer: $(grep -c '' <<<"$out") findings (gcc -fanalyzer FILE shows each one's path)"
    return 1
  fi
}

check_shellcheck() {
  command -v shellcheck >/dev/null || skip "shellcheck is not installed (test/run.sh installs it: apt-get install shellcheck)"
  local out
  mapfile -t sfiles < <(shell_files)
  out=$(shellcheck --format=gcc "${sfiles[@]}" 2>&1) || true
  if [ -n "$out" ]; then
    say "$out"
    say "shellcheck: $(grep -c '' <<<"$out") findings"
    return 1
  fi
}

format() {
  node_modules/.bin/biome format --write
  clang_format_tool
  mapfile -t cfiles < <(c_files)
  "$CLANG_FORMAT" -i "${cfiles[@]}"
}

main() {
  if [ "${1:-}" = --format ]; then
    format
    return
  fi
  local checks=("$@") check status=0 one
  [ ${#checks[@]} -gt 0 ] || checks=("${CHECKS[@]}")
  for check in "${checks[@]}"; do
    case " ${CHECKS[*]} " in *" $check "*) ;; *) say "lint: no check \"$check\" (${CHECKS[*]})" >&2; return 2 ;; esac
    one=0
    # In a subshell, so that a skip ends only its own check.
    ("check_${check//-/_}") || one=$?
    if [ "$one" -ne 0 ] && { [ "$status" -eq 0 ] || [ "$one" -eq 1 ]; }; then status=$one; fi
  done
  return "$status"
}

main "$@"
