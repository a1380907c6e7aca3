#!/usr/bin/env bash
# The guest side of the cgroup v2 tests (run by cgroup2-vm.sh): put user A's
# home on the scratch disk (so disk bandwidth limits have a real device to act
# on), and under systemd install cellsh's units as install.sh wrote them; then
# run the limits scenario, and under systemd what only systemd hosts have.
#
#   limits-vm.sh ENV_FILE USER_A USER_B
set -uo pipefail
# shellcheck source=/dev/null
. "$1"
A=$2 B=$3
HERE=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
result() { printf 'result %s %s\n' "$1" "$(printf '%s' "${*:2}" | tr '\n' '|')"; }

HOME_A=$(getent passwd "$A" | cut -d: -f6)
mkfs.ext4 -q -F /dev/vda && mount /dev/vda "$HOME_A" && chown "$A:$(id -g "$A")" "$HOME_A" && chmod 0750 "$HOME_A" ||
  echo "limits-vm.sh: no scratch disk for $A's home"

UNIT=$CELLSH_CGROUP_NAME.service
if [ "$CELLSH_VM_SYSTEMD" = yes ]; then
  cp "$CELLSH_UNIT_DIR/$CELLSH_CGROUP_NAME.slice" "$CELLSH_UNIT_DIR/$UNIT" /etc/systemd/system/
  systemctl daemon-reload && systemctl start "$UNIT"
  result unit_start $? "$(systemctl show -p ActiveState -p Delegate -p ControlGroup "$UNIT")"
  # Before the unit starts (at boot, before sshd), the helper keeps the policy's UDP ports.
  result unit_ports "$(systemctl show -p ExecStartPre "$UNIT")"
fi

bash "$HERE/limits-scenario.sh" "$A" "$B"

if [ "$CELLSH_VM_SYSTEMD" = yes ]; then
  run_as() {
    setpriv --reuid "$1" --regid "$(id -g "$1")" --init-groups --reset-env -- "$CELLSH_HELPER" run "$2" < /dev/null > /tmp/out 2> /tmp/err
    STATUS=$?
  }
  UIDA=$(id -u "$A")
  LEAF=/sys/fs/cgroup/$CELLSH_CGROUP_NAME.slice/$UNIT/u$UIDA
  run_as "$A" true
  ID=$(awk '$1 == "id" {print $2}' "$CELLSH_STATE_DIR/$UIDA.state")
  # systemd leaves what it delegated alone, across a reload and other units' restarts.
  systemctl daemon-reload
  systemctl restart systemd-journald 2>/dev/null
  run_as "$A" 'cat /proc/self/cgroup'
  result after_reload "$STATUS" "$(cat /tmp/out) $(cat "$LEAF/pids.max") $(awk '$1 == "id" {print $2}' "$CELLSH_STATE_DIR/$UIDA.state") $ID"
  # Without the delegated cgroup there is no login, and never an unlimited one.
  systemctl stop "$UNIT"
  INIT=$(awk '$1 == "init_pid" {print $2}' "$CELLSH_STATE_DIR/$UIDA.state")
  result stopped_unit "$(test -e "/proc/$INIT" && echo "init alive" || echo "init gone") $(test -d "$LEAF" && echo "leaf kept" || echo "leaf gone")"
  run_as "$A" 'echo in'
  result refused_without_unit "$STATUS" "$(cat /tmp/out)" "$(cat /tmp/err)"
  systemctl start "$UNIT"
  run_as "$A" 'echo in'
  result after_restart "$STATUS" "$(cat /tmp/out)"
  "$CELLSH_HELPER" stop "$UIDA" > /dev/null 2>&1
fi
result vm_end ok
