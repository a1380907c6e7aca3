#!/usr/bin/env bash
# Run a script as root on Debian's own kernel (linux-image-amd64) booted under
# qemu with software emulation, where cgroup v2 is the real, unified
# hierarchy. The guest sees this host's whole file system read-only over 9p,
# under a throw-away writable layer (overlayfs on tmpfs), so it runs the same
# binaries, the same cellsh install and the same test users as the host, and
# changes nothing here. The guest's /dev/vda is an empty scratch disk.
#
#   test/harness/cgroup2-vm.sh [--systemd] [--append KERNEL_ARGS] SCRIPT [ARG...]
#
# Without --systemd the script is the guest's only process tree (a plain
# cgroup2 mount, no service manager). With --systemd the guest boots this
# host's systemd as PID 1 (into the minimal target below), which runs the
# script as a service. Either way the script's output arrives on our stdout
# between "cellsh-vm: begin" and "cellsh-vm: end STATUS", and we exit with
# the script's status (or 125 when the guest did not get that far).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=/var/cache/cellsh-test-vm
TIMEOUT_S=${CELLSH_VM_TIMEOUT_S:-900}
# What the initramfs loads to reach the host's files; the rest comes from the
# host's own /lib/modules once the guest runs on them.
BOOT_MODULES=(virtio_pci 9pnet_virtio 9p overlay)

fatal() { printf 'cgroup2-vm.sh: %s\n' "$*" >&2; exit 125; }

kernel_version() {
  local k
  k=$(find /boot -maxdepth 1 -name 'vmlinuz-*-amd64' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n1)
  if [ -z "$k" ] || [ ! -d "/lib/modules/$k" ]; then
    fatal "no Debian kernel in /boot (test/run.sh installs linux-image-amd64)"
  fi
  printf '%s\n' "$k"
}

# A module and everything it needs, dependencies first (from modules.dep).
module_closure() {
  local kver=$1 mod=$2 dep path deps
  path=$(awk -F: -v m="$mod.ko" '{n = split($1, p, "/"); if (p[n] == m) {print $1; exit}}' "/lib/modules/$kver/modules.dep")
  [ -n "$path" ] || return 0 # built in
  mapfile -t deps < <(awk -F: -v p="$path" '$1 == p {n = split($2, d, " "); for (i = 1; i <= n; i++) print d[i]}' "/lib/modules/$kver/modules.dep")
  for dep in "${deps[@]}"; do
    module_closure "$kver" "$(basename "$dep" .ko)"
  done
  printf '%s\n' "$path"
}

initramfs() {
  local kver=$1
  local out=$CACHE/initramfs-$kver.gz
  local stamp
  stamp=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
  if [ -f "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then printf '%s\n' "$out"; return; fi
  [ -x /bin/busybox ] || fatal "busybox-static is not installed"
  local dir
  dir=$(mktemp -d)
  mkdir -p "$dir"/{bin,dev,proc,sys,mnt/host,mnt/rw,mnt/root,modules}
  cp /bin/busybox "$dir/bin/busybox"
  for a in sh mount umount mkdir insmod switch_root cat echo sleep poweroff mknod grep; do ln -s busybox "$dir/bin/$a"; done
  local m
  for m in $(for b in "${BOOT_MODULES[@]}"; do module_closure "$kver" "$b"; done | awk '!seen[$0]++'); do
    cp "/lib/modules/$kver/$m" "$dir/modules/"
    basename "$m" >> "$dir/modules/order"
  done
  cat > "$dir/init" <<'EOF'
#!/bin/sh
# Reach the host's files over 9p, put a writable layer on top, and run on them.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do insmod /modules/$m || echo "cellsh-vm: insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 host /mnt/host || echo "cellsh-vm: no 9p share"
mount -t tmpfs -o mode=0755 rw /mnt/rw
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/host,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work,xino=off root /mnt/root ||
  echo "cellsh-vm: no overlay"
for d in proc sys dev; do mount --move /$d /mnt/root/$d; done
for arg in $(cat /mnt/root/proc/cmdline); do
  case $arg in cellsh.boot=*) boot=${arg#cellsh.boot=} ;; esac
done
exec switch_root /mnt/root /bin/bash "$boot"
EOF
  chmod 0755 "$dir/init"
  mkdir -p "$CACHE"
  (cd "$dir" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
  mv "$out.tmp" "$out"
  echo "$stamp" > "$out.stamp"
  rm -rf "$dir"
  printf '%s\n' "$out"
}

main() {
  [ "$(id -u)" -eq 0 ] || fatal "run me as root"
  local systemd=no append=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --systemd) systemd=yes ;;
      --append) append=${2:?--append needs kernel arguments}; shift ;;
      *) break ;;
    esac
    shift
  done
  [ $# -ge 1 ] || fatal "usage: cgroup2-vm.sh [--systemd] [--append KERNEL_ARGS] SCRIPT [ARG...]"
  command -v qemu-system-x86_64 >/dev/null || fatal "qemu-system-x86 is not installed"
  local script
  script=$(realpath "$1"); shift
  local kver ramfs
  kver=$(kernel_version)
  ramfs=$(initramfs "$kver")
  WORK=$(mktemp -d /var/tmp/cellsh-vm.XXXXXX)
  trap '[ -n "${CELLSH_VM_KEEP:-}" ] || rm -rf "$WORK"' EXIT
  local work=$WORK
  chmod 0755 "$work"
  truncate -s 256M "$work/disk.img"
  # What the guest runs after switch_root: the script, or systemd running it.
  {
    echo '#!/bin/bash'
    echo 'mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run; mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp'
    echo "export CELLSH_VM=1 CELLSH_VM_SYSTEMD=$systemd PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    printf 'set -- %q' "$script"; printf ' %q' "$@"; echo
    cat "$REPO/test/harness/vm-guest.sh"
  } > "$work/boot.sh"
  chmod 0755 "$work/boot.sh"
  local status=0
  timeout --kill-after=10 "$TIMEOUT_S" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 2048 -nographic -no-reboot \
    -kernel "/boot/vmlinuz-$kver" -initrd "$ramfs" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 cellsh.boot=$work/boot.sh $append" \
    -virtfs local,path=/,mount_tag=host,security_model=passthrough,readonly=on,multidevs=remap,id=host \
    -drive "file=$work/disk.img,if=virtio,format=raw,cache=unsafe" \
    -nic none -serial mon:stdio < /dev/null | tr -d '\r' | tee "$work/console.log" | sed -n '/^cellsh-vm: begin$/,/^cellsh-vm: end /p' || status=$?
  local end
  end=$(awk '/^cellsh-vm: end / {s = $3} END {print s}' "$work/console.log")
  if [ -z "$end" ]; then
    printf 'cgroup2-vm.sh: the guest did not finish (qemu status %s); its console ended with:\n' "$status" >&2
    tail -n 30 "$work/console.log" >&2
    exit 125
  fi
  exit "$end"
}

main "$@"
