#!/usr/bin/env bash
# The whole test suite, run as root on Debian 12: installs what the tests need,
# builds, installs cellsh privately under a root-owned test root (never over a
# real installation), runs every test with node's test runner, then removes the
# private install and checks that nothing was left behind.
#
#   sudo test/run.sh           every test
#   sudo test/run.sh FILTER    only test files whose path contains FILTER
set -euo pipefail

TEST_PACKAGES=(tmux screen skopeo umoci docker-registry apache2-utils openssl vim procps keyutils python3 g++ make libpam0g-dev strace debootstrap systemd-container cpio iproute2 psmisc openssh-server openssh-client openssh-sftp-server rsync git xauth xvfb x11-utils slirp4netns nftables mosh qemu-system-x86 linux-image-amd64 busybox-static e2fsprogs clang-14 libclang-rt-14-dev clang-format-14 shellcheck)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

info() { printf 'test/run.sh: %s\n' "$*"; }
fatal() { printf 'test/run.sh: %s\n' "$*" >&2; exit 1; }

# shellcheck source=test/private-install.sh
. "$REPO/test/private-install.sh"

main() {
  [ "$(id -u)" -eq 0 ] || fatal "run me as root (sudo test/run.sh)"
  ensure_packages "${TEST_PACKAGES[@]}"
  build_tree
  make -s -C src/helper OUT="$REPO/build" "$REPO/build/test-units" "$REPO/build/test-seccomp" "$REPO/build/test-route" "$REPO/build/test-port-guard"
  trap private_cleanup_on_exit EXIT
  private_install test $$
  mapfile -t files < <(find "$REPO/dist/test" -name '*.test.js' | sort | grep -F -- "${1:-}")
  [ ${#files[@]} -gt 0 ] || fatal "no test files match \"${1:-}\""
  info "running ${#files[@]} test files"
  local status=0
  CELLSH_TEST_ROOT=$ROOT CELLSH_TEST_PREFIX=$PREFIX node --test --test-concurrency=1 --test-reporter=spec "${files[@]}" || status=$?
  private_uninstall
  check_leftovers
  return "$status"
}

main "$@"
