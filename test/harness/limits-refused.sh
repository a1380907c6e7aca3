#!/usr/bin/env bash
# Guest side of the "controller missing" test (cgroup2-vm.sh, kernel booted
# with cgroup_disable=memory): a login whose policy limits memory is refused
# and says which controller is missing; one with no memory limit gets in.
#
#   limits-refused.sh ENV_FILE USER_A USER_B
set -uo pipefail
# shellcheck source=/dev/null
. "$1"
A=$2 B=$3
result() { printf 'result %s %s\n' "$1" "$(printf '%s' "${*:2}" | tr '\n' '|')"; }
run_as() {
  setpriv --reuid "$1" --regid "$(id -g "$1")" --init-groups --reset-env -- "$CELLSH_HELPER" run "$2" < /dev/null > /tmp/out 2> /tmp/err
  result "$3" "$? $(cat /tmp/out) $(cat /tmp/err)"
}
result controllers "$(cat /sys/fs/cgroup/cgroup.controllers)"
cat > "$CELLSH_POLICY" <<POLICY
users:
  $A:
    limits: {memory: 64M}
  $B:
    limits: {memory: unlimited, swap: unlimited, pids: 100}
POLICY
"$CELLSH_ADMIN" apply > /dev/null 2>&1
result apply $?
run_as "$A" 'echo in' limited
run_as "$B" 'echo in' unlimited
result leaf_a "$(test -d "/sys/fs/cgroup/$CELLSH_CGROUP_NAME/u$(id -u "$A")" && echo exists || echo none)"
for u in "$A" "$B"; do "$CELLSH_HELPER" stop "$(id -u "$u")" > /dev/null 2>&1; done
result vm_end ok
