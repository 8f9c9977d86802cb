#!/bin/sh
# The top layer, run inside the image root (debian/scripts/chroot.sh) on top of
# the cached base layer, after extra_packages are installed and the deferred
# work is done. Environment:
#   ACALSIM_USER            the unprivileged login to create
# Files the host writes itself (hostname, hosts, resolv.conf) are not touched
# here: inside the chroot /etc/resolv.conf is the host's own, bind-mounted.
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

# Undo the build-time diversions (debian/hooks/essential00-defer-slow-scripts.sh)
# so apt inside the guest byte-compiles, runs depmod and builds initrds as usual.
if [ -f /var/lib/acalsim/deferred ]; then
	while read -r path; do
		rm -f "$path"
		dpkg-divert --quiet --local --rename --divert "$path.acalsim-deferred" --remove "$path"
		case "$path" in
		*.py)
			if [ -e "$path" ]; then
				# Its byte code was compiled from the shim; compile the real module.
				python3 -c 'import py_compile, sys; py_compile.compile(sys.argv[1], doraise=True)' "$path"
			else
				# No Python in this image: the shim (and its directory) were all there was.
				rmdir --ignore-fail-on-non-empty "${path%/*}"
			fi ;;
		esac
	done < /var/lib/acalsim/deferred
	rm -rf /var/lib/acalsim
fi

# Logins: root and the user have no password, for the serial console of a
# local VM. sshd (dropbear) runs only under `cargo xtask run --ssh`, keys only.
passwd --delete root >/dev/null
if ! id "$ACALSIM_USER" >/dev/null 2>&1; then
	useradd --create-home --shell /bin/bash --user-group "$ACALSIM_USER"
fi
passwd --delete "$ACALSIM_USER" >/dev/null

# DHCP on the QEMU user network; serial-getty@ttyS0 comes from console=ttyS0.
systemctl enable systemd-networkd.service >/dev/null 2>&1
# `cargo xtask run`'s shares and sshd (guest-scripts/runner, copied in by the host).
systemctl enable acalsim-guest.service >/dev/null 2>&1
# Boot speed: nothing here needs these under QEMU.
systemctl mask systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
	e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true

# Debian selects OpenBLAS through alternatives; make the choice explicit so
# numpy and torch never fall back to the reference BLAS.
for lib in libblas.so.3 liblapack.so.3; do
	target=$(update-alternatives --list "$lib-riscv64-linux-gnu" 2>/dev/null | grep openblas | head -n 1 || true)
	if [ -n "$target" ]; then
		update-alternatives --set "$lib-riscv64-linux-gnu" "$target" >/dev/null
	fi
done

# unsafe-io only speeds up the build; the guest's own dpkg syncs as usual.
if [ -f /etc/dpkg/dpkg.cfg.d/99mmdebstrap ]; then
	sed -i '/^force-unsafe-io$/d' /etc/dpkg/dpkg.cfg.d/99mmdebstrap
fi

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old
rm -f /var/log/apt/* /var/log/dpkg.log /var/log/alternatives.log /etc/machine-id
: > /etc/machine-id
