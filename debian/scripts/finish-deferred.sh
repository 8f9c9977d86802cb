#!/bin/sh
# Usage: finish-deferred.sh native|emulated HELPER_ROOT IMAGE_ROOT
# Does, once, the maintainer-script work debian/hooks/essential00-defer-slow-scripts.sh
# deferred: depmod for every kernel, update-ca-certificates, and byte-compiling
# every Python module (what py3compile and python3.X's postinst do package by
# package).
#   native:   HELPER_ROOT is an amd64 root of the same suite with the same
#             kmod and ca-certificates versions and the same Python byte-code
#             magic number (checked by the caller). The image is bind-mounted at /image in it; compileall
#             records the paths as the guest sees them (-s /image -p /), and the
#             certificate directories are bound over the helper's own.
#             Seconds instead of minutes.
#   emulated: HELPER_ROOT is ignored; the image's own tools run under qemu-user.
# Always started under `unshare --mount --pid --fork --kill-child`: the mounts
# vanish with the namespace.
set -eu
mode="$1"
helper="$2"
image="$3"
here=$(dirname "$0")

list="$image/var/lib/acalsim/deferred"
# Nothing was deferred (debootstrap runs no hooks): nothing to finish.
[ -f "$list" ] || exit 0
deferred() { grep -qx "$1" "$list"; }

kernels=
if deferred /usr/sbin/depmod; then
	kernels=$(ls "$image/usr/lib/modules" 2>/dev/null || true)
fi
certs=
if deferred /usr/sbin/update-ca-certificates && [ -f "$image/etc/ca-certificates.conf" ]; then
	certs=1
fi
set --
if deferred /usr/bin/py3compile; then
	for dir in "$image"/usr/lib/python3/dist-packages "$image"/usr/share/python3 "$image"/usr/lib/python3.*; do
		if [ -d "$dir" ]; then
			set -- "$@" "/${dir#"$image"/}"
		fi
	done
fi

if [ "$mode" = native ]; then
	mkdir -p "$helper/image"
	mount --bind "$image" "$helper/image"
	for k in $kernels; do
		echo "acalsim: depmod $k (native)"
		chroot "$helper" depmod -b /image -a "$k"
	done
	if [ -n "$certs" ]; then
		echo "acalsim: update-ca-certificates (native)"
		for path in /etc/ssl/certs /usr/share/ca-certificates /etc/ca-certificates.conf; do
			mount --bind "$image$path" "$helper$path"
		done
		chroot "$helper" update-ca-certificates
	fi
	if [ $# -gt 0 ]; then
		echo "acalsim: byte-compiling $* (native)"
		prefixed=$(for d in "$@"; do printf '/image%s ' "$d"; done)
		# shellcheck disable=SC2086 # a list of directories without spaces
		sh "$here/chroot.sh" "$helper" python3 -m compileall -q -j 0 -s /image -p / $prefixed ||
			echo "acalsim: some files were not byte-compiled (as with py3compile, not an error)"
	fi
	exit 0
fi

for k in $kernels; do
	echo "acalsim: depmod $k (emulated)"
	# depmod is a link to kmod, which acts on the name it is called by; the
	# script is for the chroot's shell, so $1 and $rc are its own.
	# shellcheck disable=SC2016
	chroot "$image" sh -c 'ln -sf /usr/bin/kmod /tmp/depmod && /tmp/depmod -a "$1"; rc=$?; rm -f /tmp/depmod; exit $rc' depmod "$k"
done
if [ -n "$certs" ]; then
	echo "acalsim: update-ca-certificates (emulated)"
	chroot "$image" /usr/sbin/update-ca-certificates.acalsim-deferred
fi
if [ $# -gt 0 ]; then
	echo "acalsim: byte-compiling $* (emulated)"
	# compileall exits 1 when any file does not compile; Debian ships a few such
	# files on purpose (test data), and py3compile ignores them as well.
	sh "$here/chroot.sh" "$image" python3 -m compileall -q -j 0 "$@" ||
		echo "acalsim: some files were not byte-compiled (as with py3compile, not an error)"
fi
