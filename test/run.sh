#!/usr/bin/env bash
# The whole test suite, run as root on Debian 12: installs what the tests need,
# builds, installs cellsh privately under a root-owned test root (never over a
# real installation), runs every test with node's test runner, then removes the
# private install and checks that nothing was left behind.
#
#   sudo test/run.sh           every test
#   sudo test/run.sh FILTER    only test files whose path contains FILTER
set -euo pipefail

TEST_PACKAGES=(tmux vim procps python3 g++ make strace debootstrap systemd-container cpio iproute2 psmisc openssh-server openssh-client openssh-sftp-server rsync git xauth qemu-system-x86 linux-image-amd64 busybox-static e2fsprogs)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

info() { printf 'test/run.sh: %s\n' "$*"; }
fatal() { printf 'test/run.sh: %s\n' "$*" >&2; exit 1; }

install_test_packages() {
  "$REPO/install.sh" --packages-only
  local want=()
  for p in "${TEST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || want+=("$p")
  done
  if [ ${#want[@]} -gt 0 ]; then
    info "installing test packages: ${want[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
  fi
}

# Install scripts run only by name: koffi checks its bundled binary, node-pty
# (used by the tests to drive terminals) compiles its addon.
build() {
  cd "$REPO"
  local lockhash
  lockhash=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ "$(cat node_modules/.cellsh-lock 2>/dev/null)" != "$lockhash" ] || [ ! -e node_modules/node-pty/build/Release/pty.node ]; then
    info "installing dependencies (npm ci) and building koffi and node-pty"
    npm ci --ignore-scripts --no-audit --no-fund --no-progress --loglevel=error
    npm rebuild koffi node-pty --no-progress --loglevel=error
    echo "$lockhash" > node_modules/.cellsh-lock
  fi
  node node_modules/typescript/bin/tsc -p tsconfig.json
  make -s -C src/helper OUT="$REPO/build" "$REPO/build/test-units"
}

cleanup() {
  local status=$?
  set +e
  if [ -d "$PREFIX/lib/cellsh" ]; then
    "$REPO/install.sh" --uninstall --prefix "$PREFIX" --root "$ROOT" --group "$GROUP" --cgroup-name "$CGROUP" >/dev/null
  fi
  # A safety net for tests that died before their own cleanup: only users whose
  # login shell is this run's private launcher.
  getent passwd | awk -F: -v sh="$PREFIX/bin/cellsh" '$1 ~ /^cellsh-t-/ && $7 == sh {print $1}' | while read -r u; do
    pkill -KILL -U "$u"; sleep 0.2; userdel --remove "$u" 2>/dev/null
  done
  rm -rf "$ROOT"
  exit "$status"
}

check_leftovers() {
  local left=""
  getent passwd | grep -q '^cellsh-t-' && left+=" users:$(getent passwd | grep -c '^cellsh-t-')"
  grep -q "$CGROUP" /proc/self/mountinfo && left+=" mounts"
  find /sys/fs/cgroup -maxdepth 2 \( -name "$CGROUP" -o -name 'cellsh-fresh-*' \) 2>/dev/null | grep -q . && left+=" cgroups"
  [ -z "$left" ] || fatal "the tests left things behind:$left"
}

main() {
  [ "$(id -u)" -eq 0 ] || fatal "run me as root (sudo test/run.sh)"
  install_test_packages
  build
  local id=$$
  ROOT=/var/lib/cellsh-test-$id
  PREFIX=$ROOT/prefix
  GROUP=cellsh-t-g$id
  CGROUP=cellsh_test_$id
  trap cleanup EXIT
  info "installing a private copy under $ROOT"
  "$REPO/install.sh" --skip-packages --prefix "$PREFIX" --root "$ROOT" --group "$GROUP" --cgroup-name "$CGROUP" >/dev/null
  mapfile -t files < <(find "$REPO/dist/test" -name '*.test.js' | sort | grep -F -- "${1:-}")
  [ ${#files[@]} -gt 0 ] || fatal "no test files match \"${1:-}\""
  info "running ${#files[@]} test files"
  local status=0
  CELLSH_TEST_ROOT=$ROOT CELLSH_TEST_PREFIX=$PREFIX node --test --test-concurrency=1 --test-reporter=spec "${files[@]}" || status=$?
  "$REPO/install.sh" --uninstall --prefix "$PREFIX" --root "$ROOT" --group "$GROUP" --cgroup-name "$CGROUP" >/dev/null
  check_leftovers
  return "$status"
}

main "$@"
