#!/bin/sh
# Usage: chroot.sh ROOT COMMAND [ARG...]
# Runs COMMAND inside ROOT with /proc, /sys, /dev, /run and /tmp mounted and the
# host's resolv.conf visible. Always started under
# `unshare --mount --pid --fork --kill-child`: these mounts exist only in that
# private namespace and disappear with it, even if the build is killed.
set -eu
root="$1"
shift
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
if [ -f /etc/resolv.conf ]; then
	rm -f "$root/etc/resolv.conf"
	: > "$root/etc/resolv.conf"
	mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
fi
exec chroot "$root" "$@"
