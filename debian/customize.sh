#!/bin/sh
# The top layer, run inside the image root (debian/scripts/chroot.sh) on top of
# the cached base layer. Environment:
#   ACALSIM_EXTRA_PACKAGES  extra_packages from acalsim.toml (space separated)
#   ACALSIM_USER            the unprivileged login to create
# Files the host writes itself (hostname, hosts, resolv.conf) are not touched
# here: inside the chroot /etc/resolv.conf is the host's own, bind-mounted.
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

if [ -n "${ACALSIM_EXTRA_PACKAGES:-}" ]; then
	echo "acalsim: installing extra packages: $ACALSIM_EXTRA_PACKAGES"
	# shellcheck disable=SC2086 # a list of package names
	apt-get install -y --no-install-recommends $ACALSIM_EXTRA_PACKAGES
	if [ -x /usr/bin/python3 ]; then
		python3 -m compileall -q -j 0 /usr/lib/python3/dist-packages /usr/share/python3 >/dev/null
	fi
fi

# Undo the build-time diversions (debian/hooks/essential00-defer-slow-scripts.sh)
# so apt inside the guest byte-compiles and builds initrds as usual.
for tool in /usr/bin/py3compile /usr/sbin/update-initramfs; do
	if dpkg-divert --listpackage "$tool" | grep -q LOCAL; then
		rm -f "$tool"
		dpkg-divert --quiet --local --rename --divert "$tool.acalsim-deferred" --remove "$tool"
	fi
done

# Logins: root and the user have no password, for the serial console of a
# local VM. The image starts no remote login service.
passwd --delete root >/dev/null
if ! id "$ACALSIM_USER" >/dev/null 2>&1; then
	useradd --create-home --shell /bin/bash --user-group "$ACALSIM_USER"
fi
passwd --delete "$ACALSIM_USER" >/dev/null

# DHCP on the QEMU user network; serial-getty@ttyS0 comes from console=ttyS0.
systemctl enable systemd-networkd.service >/dev/null 2>&1
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

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old
rm -f /var/log/apt/* /var/log/dpkg.log /var/log/alternatives.log /etc/machine-id
: > /etc/machine-id
