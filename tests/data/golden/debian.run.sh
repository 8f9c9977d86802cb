#!/bin/sh
# Boots the pytorch-build image with plain QEMU; written by `cargo xtask image`.
# Needs only qemu-system-riscv64 with OpenSBI (-bios default); the files it
# names sit next to this script. `cargo xtask run` does the same with job
# control, shares and ssh.
#
# usage: run.sh [--persist] [--initramfs] [-- EXTRA QEMU ARGS]
#   --persist    write changes to the disk image (default: -snapshot, discarded)
#   --initramfs  boot the whole rootfs from RAM (needs format "initramfs")
# environment: QEMU (binary), SMP (default 2), MEMORY_MIB (default 6144)
# Quit the console with Ctrl-A X.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
qemu=${QEMU:-qemu-system-riscv64}
snapshot=-snapshot
mode=disk
while [ $# -gt 0 ]; do
	case "$1" in
	--persist) snapshot= ;;
	--initramfs) mode=initramfs ;;
	--) shift; break ;;
	*) echo "run.sh: unknown option $1 (see the comment at the top)" >&2; exit 2 ;;
	esac
	shift
done

set -- -machine virt -smp "${SMP:-2}" -m "${MEMORY_MIB:-6144}M" -nographic -no-reboot \
	-bios default -kernel "$here/vmlinux" \
	-netdev user,id=net0 -device virtio-net-device,netdev=net0 \
	-device virtio-rng-device "$@"

# Empty when the image lacks that format.
initramfs="rootfs.cpio.zst"
ext4="rootfs.ext4"
if [ "$mode" = initramfs ]; then
	if [ -z "$initramfs" ]; then
		echo "run.sh: this image was built without format \"initramfs\"" >&2
		exit 2
	fi
	exec "$qemu" "$@" -initrd "$here/$initramfs" -append "rdinit=/init console=ttyS0 panic=-1"
fi
if [ -z "$ext4" ]; then
	echo "run.sh: this image has no disk image; use --initramfs" >&2
	exit 2
fi
exec "$qemu" "$@" -initrd "$here/initrd.img" -append "root=LABEL=acalsim-root rw console=ttyS0 panic=-1" $snapshot \
	-drive "file=$here/$ext4,format=raw,if=none,id=hd0" -device virtio-blk-device,drive=hd0
