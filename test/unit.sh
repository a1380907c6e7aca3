#!/usr/bin/env bash
# The tests that need neither root nor an installed cellsh (npm test): builds the
# TypeScript and the C unit-test programs, then runs test/unit with node's test
# runner, the fuzzers briefly. Run as any user, in a checkout with node_modules
# (npm ci). Tests that need root or an install skip and say why; test/run.sh, as
# root, runs everything.
#
#   npm test               every unit test
#   npm test -- FILTER     only test files whose path contains FILTER
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

fatal() { printf 'npm test: %s\n' "$*" >&2; exit 1; }

[ -d node_modules/typescript ] || fatal "no node_modules here: run \"npm ci\" first"
node_modules/.bin/tsc -p tsconfig.json
for target in test-units test-route test-seccomp; do
  make -s -C src/helper OUT="$REPO/build" "$REPO/build/$target" ||
    printf 'npm test: build/%s did not build; its tests will skip\n' "$target" >&2
done

mapfile -t files < <(find dist/test/unit -name '*.test.js' | sort | grep -F -- "${1:-}")
[ ${#files[@]} -gt 0 ] || fatal "no unit test files match \"${1:-}\""
CELLSH_FUZZ_SECONDS=${CELLSH_FUZZ_SECONDS:-2} exec node --test --test-concurrency="$(nproc)" --test-reporter=spec "${files[@]}"
