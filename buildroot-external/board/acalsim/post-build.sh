#!/bin/sh
# Buildroot post-build script (BR2_ROOTFS_POST_BUILD_SCRIPT): installs the
# guest half of `cargo xtask run` — the same files the Debian images get,
# from the project's guest-scripts/runner — into the target rootfs.
# $1: the target directory.
set -eu
target=$1
here=$(cd "$(dirname "$0")" && pwd)
runner=$here/../../../guest-scripts/runner
install -d "$target/usr/lib/acalsim"
install -m 0755 "$runner/acalsim-init" "$runner/acalsim-guest" "$runner/acalsim-zygote" "$target/usr/lib/acalsim/"
