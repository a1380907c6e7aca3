#!/usr/bin/env bash
# bench/compare.sh BEFORE AFTER [RUNS]: the same session paths of two checkouts,
# timed in one run, as root on Debian 12. Each checkout (built: dist/ and its
# node_modules) is installed privately side by side under /var/lib/cellsh-cmp-*,
# one user is enrolled in both, and bench/timer.c runs every row of both in a new
# order each round, so the machine's noise hits both alike. Prints the medians
# and their ratio (AFTER / BEFORE) and removes everything it made.
#
#   git worktree add /tmp/before 60e9d14 && (cd /tmp/before && npm ci && npx tsc -p .)
#   sudo bench/compare.sh /tmp/before . 150
set -euo pipefail

[ "$#" -ge 2 ] || { echo "usage: bench/compare.sh BEFORE AFTER [RUNS]" >&2; exit 64; }
[ "$(id -u)" -eq 0 ] || { echo "bench/compare.sh: run me as root" >&2; exit 1; }
SRC=("$(cd "$1" && pwd)" "$(cd "$2" && pwd)")
RUNS=${3:-150}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TIMER=$REPO/build/bench-timer
USER_NAME=cellsh-t-cmp
SIDES=(before after)

root_of() { echo "/var/lib/cellsh-cmp-$1"; }
install_args() { echo "--skip-packages --prefix $(root_of "$1")/prefix --root $(root_of "$1") --group cellsh-t-g$1 --cgroup-name cellsh_cmp_$1"; }

out=$(mktemp)
cleanup() {
  rm -f "$out"
  for i in 0 1; do
    local side=${SIDES[$i]}
    if [ -d "$(root_of "$side")" ]; then
      # shellcheck disable=SC2046 # the arguments are words
      "${SRC[$i]}/install.sh" $(install_args "$side") --uninstall >/dev/null 2>&1 || true
      rm -rf "$(root_of "$side")"
    fi
  done
  if id "$USER_NAME" >/dev/null 2>&1; then
    for pid in $(pgrep -u "$USER_NAME" || true); do kill -KILL "$pid" 2>/dev/null || true; done
    userdel -r "$USER_NAME" 2>/dev/null || true
  fi
  for side in "${SIDES[@]}"; do groupdel "cellsh-t-g$side" 2>/dev/null || true; done
}
trap cleanup EXIT

mkdir -p "$REPO/build"
gcc -O2 -Wall -Wextra -Werror -o "$TIMER" "$REPO/bench/timer.c"
for i in 0 1; do
  # shellcheck disable=SC2046
  (cd "${SRC[$i]}" && ./install.sh $(install_args "${SIDES[$i]}") >/dev/null)
done
useradd -m -s /bin/bash -G cellsh-t-gbefore,cellsh-t-gafter "$USER_NAME"
for side in "${SIDES[@]}"; do "$(root_of "$side")/prefix/sbin/cellsh-admin" apply >/dev/null; done
uid=$(id -u "$USER_NAME")

# One row per path and side: the helper joining and creating a container, the
# launcher's fast path, and a command on a terminal (the early start, whose
# session runs cellsh-inside), timed to its output.
spec() {
  for side in "${SIDES[@]}"; do
    local p lib
    p=$(root_of "$side")/prefix
    lib=$p/lib/cellsh
    printf 'cmd %s helper join\narg %s/cellsh-helper\narg run\narg true\nuid %s\n' "$side" "$lib" "$uid"
    printf 'cmd %s helper create\narg %s/cellsh-helper\narg run\narg true\nuid %s\npre %s/cellsh-helper\npre stop\npre %s\n' \
      "$side" "$lib" "$uid" "$lib" "$uid"
    printf 'cmd %s launcher -c true (fast path)\nfile %s/bin/cellsh\narg cellsh\narg -c\narg true\nuid %s\n' "$side" "$p" "$uid"
    printf 'cmd %s launcher -c on a terminal (early start)\nfile %s/bin/cellsh\narg cellsh\narg -c\narg echo cmp-ready\nuid %s\npty\nuntil cmp-ready\n' \
      "$side" "$p" "$uid"
  done
}
spec | "$TIMER" run --runs "$RUNS" --warmup 10 > "$out"
python3 - "$out" <<'PY'
import json, statistics, sys
rows = {r["name"]: r for r in map(json.loads, filter(str.strip, open(sys.argv[1])))}
print(f"{'path':42} {'before ms':>10} {'after ms':>10} {'ratio':>6}  runs")
for what in ("helper join", "helper create", "launcher -c true (fast path)", "launcher -c on a terminal (early start)"):
    a, b = rows["before " + what], rows["after " + what]
    key = "first_ms" if "terminal" in what else "ms"
    if a["errors"] or b["errors"]:
        sys.exit(f"{what}: {a.get('error') or b.get('error')}")
    ma, mb = statistics.median(a[key]), statistics.median(b[key])
    print(f"{what:42} {ma:10.2f} {mb:10.2f} {mb / ma:6.3f}  {len(a[key])}")
PY
