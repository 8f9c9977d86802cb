#!/bin/sh
# mmdebstrap essential hook: runs after the essential packages are installed and
# before the rest. Under qemu-user the two slowest maintainer-script jobs are
# per-package Python byte-compilation (py3compile, once per package) and
# update-initramfs (a 40 MB initrd, built twice). Divert both to a no-op here;
# customize10 byte-compiles everything once on all cores, the host builds a
# minimal initrd natively, and the top layer removes the diversions so the
# finished image behaves like any Debian system.
set -eu
root="$1"
for tool in /usr/bin/py3compile /usr/sbin/update-initramfs; do
	chroot "$root" dpkg-divert --quiet --local --rename --divert "$tool.acalsim-deferred" --add "$tool"
	cat > "$root$tool" <<'NOOP'
#!/bin/sh
# Deferred during the image build by acalsim (debian/hooks/essential00-defer-slow-scripts.sh).
exit 0
NOOP
	chmod 0755 "$root$tool"
done
