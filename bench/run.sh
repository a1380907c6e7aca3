#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --json FILE], as root on Debian 12: installs
# the baselines' packages (bubblewrap, crun, lxc, busybox-static), the ssh
# clients and servers it drives (OpenSSH, rsync, git, Ansible) and what the
# build needs, builds, installs cellsh privately under /var/lib/cellsh-bench-*
# (never over a real installation), measures, and removes everything it made.
# Don't run it beside the test suite or other load: the figures are ratios, but
# a busy machine still blurs them.
set -euo pipefail

BENCH_PACKAGES=(bubblewrap crun lxc busybox-static util-linux bsdutils procps python3 g++ make openssh-server openssh-client openssh-sftp-server rsync git ansible skopeo umoci debootstrap systemd-container)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

info() { printf 'bench: %s\n' "$*" >&2; }
fatal() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# shellcheck source=test/private-install.sh
. "$REPO/test/private-install.sh"

main() {
  [ "$(id -u)" -eq 0 ] || fatal "run me as root (sudo npm run bench)"
  ensure_packages "${BENCH_PACKAGES[@]}"
  build_tree >&2
  mkdir -p "$REPO/build"
  gcc -O2 -Wall -Wextra -Werror -o "$REPO/build/bench-timer" "$REPO/bench/timer.c"
  trap private_cleanup_on_exit EXIT
  private_install bench $$
  local status=0
  CELLSH_TEST_ROOT=$ROOT CELLSH_TEST_PREFIX=$PREFIX BENCH_TIMER=$REPO/build/bench-timer node "$REPO/dist/bench/main.js" "$@" || status=$?
  private_uninstall
  check_leftovers
  ! find /sys/fs/cgroup -maxdepth 2 -name cellsh-bench 2>/dev/null | grep -q . || fatal "the baselines left cgroups named cellsh-bench"
  return "$status"
}

main "$@"
