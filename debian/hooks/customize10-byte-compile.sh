#!/bin/sh
# mmdebstrap customize hook: the byte-compilation that py3compile would have
# done package by package, in one pass using every core.
set -eu
root="$1"
if [ -x "$root/usr/bin/python3" ]; then
	chroot "$root" python3 -m compileall -q -j 0 /usr/lib/python3/dist-packages /usr/share/python3 >/dev/null
fi
