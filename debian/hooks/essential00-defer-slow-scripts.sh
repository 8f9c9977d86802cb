#!/bin/sh
# mmdebstrap essential hook: runs after the essential packages are installed and
# before the rest. Under qemu-user the slowest maintainer-script work is
# architecture-independent or easily done once:
#   py3compile, python3.X's own py_compile.py   byte-compiling ~6000 files, serially
#   depmod                                       indexing the kernel's modules
#   update-ca-certificates                       rehashing ~150 certificates, twice
#   update-initramfs, dracut                     a 40 MB initrd nobody boots
# Divert them here to no-ops. After the bootstrap the host runs depmod and the
# byte-compilation once, natively where it can (debian/scripts/finish-deferred.sh),
# builds a minimal initrd itself, and the top layer (debian/customize.sh) puts
# every diverted file back, so the finished image behaves like any Debian system.
set -eu
root="$1"
list=/var/lib/acalsim/deferred
mkdir -p "$root/var/lib/acalsim"
: > "$root$list"

divert() {
	chroot "$root" dpkg-divert --quiet --local --rename --divert "$1.acalsim-deferred" --add "$1"
	echo "$1" >> "$root$list"
}

for tool in /usr/bin/py3compile /usr/sbin/update-initramfs /usr/bin/dracut /usr/sbin/depmod \
	/usr/sbin/update-ca-certificates; do
	divert "$tool"
	cat > "$root$tool" <<'NOOP'
#!/bin/sh
# Deferred during the image build (acalsim: debian/hooks/essential00-defer-slow-scripts.sh).
exit 0
NOOP
	chmod 0755 "$root$tool"
done

# python3.X-minimal's postinst byte-compiles the standard library by running
# py_compile.py as a script. The shim makes that a no-op and behaves as the
# real module when imported.
# apt is not installed yet: read python3-minimal's dependency from the lists
# with the host's awk (hooks run on the host; only `chroot` is emulated).
py=$(cat "$root"/var/lib/apt/lists/*_Packages 2>/dev/null |
	awk '/^Package: python3-minimal$/ { p = 1 } p && /Depends:/ { print } /^$/ { p = 0 }' |
	grep -o 'python3\.[0-9]*-minimal' | head -n 1 | sed 's/-minimal$//')
if [ -n "$py" ]; then
	shim="/usr/lib/$py/py_compile.py"
	divert "$shim"
	mkdir -p "$root/usr/lib/$py"
	cat > "$root$shim" <<'SHIM'
# Build-time shim (acalsim: debian/hooks/essential00-defer-slow-scripts.sh).
import sys
if __name__ == "__main__":
    sys.exit(0)
_real = __file__ + ".acalsim-deferred"
with open(_real) as _f:
    exec(compile(_f.read(), _real, "exec"))
SHIM
fi
