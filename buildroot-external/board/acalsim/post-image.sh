#!/bin/sh
# Buildroot post-image script (BR2_ROOTFS_POST_IMAGE_SCRIPT): records what was
# built for `cargo xtask image`, which writes the manifest and run.sh itself.
# $1: the images directory (BINARIES_DIR).
set -eu
images=$1
cd "$images"
ls -1 > acalsim-images.txt
