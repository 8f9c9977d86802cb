#!/bin/sh
# The in-guest half of `cargo xtask pytorch build`: builds the source tree on
# the persistent build disk (label acalsim-build) with ninja and ccache, the
# compiles optionally sent to the host's distccd. Everything that makes a
# re-run resume — the build directory, the ccache, the logs — lives on that
# disk. Environment (set by the host):
#   GCC_MAJOR     the g++-N to use (the one the host's cross compiler matches)
#   JOBS          parallel jobs (chosen from guest memory, or remote slots)
#   OFFLOAD       host:port of distccd, or empty to compile in the guest
#   BUILD_TARGET  a CMake target (e.g. c10) or empty for everything (a wheel
#                 for PyTorch)
#   CLEAN=1       remove the build directory first (the ccache stays)
#   NO_CCACHE=1   compile without ccache (for measuring)
set -eu
disk=$(findfs LABEL=acalsim-build) || { echo "build.sh: no disk labelled acalsim-build" >&2; exit 2; }
mkdir -p /build
# data=journal: a build stopped by Ctrl-C or a timeout (QEMU killed, no clean
# unmount) leaves every file as it was at a journal commit, never a file with
# new metadata and unwritten data — so ninja and CMake can pick up from there.
mountpoint -q /build || mount -o data=journal "$disk" /build
mkdir -p /build/ccache /build/logs
export CCACHE_DIR=/build/ccache CCACHE_MAXSIZE=30G CCACHE_BASEDIR=/build CCACHE_NOHASHDIR=1
cc=riscv64-linux-gnu-gcc-$GCC_MAJOR
cxx=riscv64-linux-gnu-g++-$GCC_MAJOR
command -v "$cxx" >/dev/null || { echo "build.sh: $cxx is not installed in this image" >&2; exit 2; }
# The launcher: ccache, which hands misses to distcc when offloading; or
# distcc alone, or nothing, without ccache.
launcher=ccache
[ -n "${NO_CCACHE:-}" ] && launcher=
if [ -n "${OFFLOAD:-}" ]; then
	export DISTCC_HOSTS="$OFFLOAD/$JOBS,lzo" DISTCC_DIR=/build/distcc
	# Offload was asked for: a compile the host cannot take is an error, not
	# a silent compile in the guest (10x slower, and not what was measured).
	export DISTCC_FALLBACK=0 DISTCC_SKIP_LOCAL_RETRY=1
	mkdir -p "$DISTCC_DIR"
	if [ "$launcher" = ccache ]; then export CCACHE_PREFIX=distcc; else launcher=distcc; fi
fi
# CC/CXX for CMake's first configure, CMAKE_* for PyTorch's setup.py, which
# passes them on; distcc sends this exact name to the host's distccd.
export CC="$cc" CXX="$cxx" CMAKE_C_COMPILER="$cc" CMAKE_CXX_COMPILER="$cxx"
if [ -n "$launcher" ]; then
	export CMAKE_C_COMPILER_LAUNCHER=$launcher CMAKE_CXX_COMPILER_LAUNCHER=$launcher
fi
if [ -n "${CLEAN:-}" ]; then
	echo "build.sh: removing the old build directory (the ccache stays)"
	rm -rf /build/out /build/src/build
fi
ccache --zero-stats >/dev/null
log=/build/logs/build-$(date +%Y%m%d-%H%M%S).log
echo "build.sh: $cxx ($($cxx -dumpfullversion)), $JOBS jobs, offload ${OFFLOAD:-off}, launcher ${launcher:-none}, target ${BUILD_TARGET:-all}, log $log"

# A configure cut short leaves a cache CMake cannot read: start it again.
drop_broken_cmake_cache() {
	if [ -f "$1/CMakeCache.txt" ] && ! grep -q '^CMAKE_GENERATOR:' "$1/CMakeCache.txt"; then
		echo "build.sh: $1/CMakeCache.txt is incomplete (an interrupted configure): configuring again"
		rm -f "$1/CMakeCache.txt" "$1/build.ninja"
	fi
}

# Called as `build || status=$?`, where set -e does not apply: every step
# returns its own failure.
build() {
	src=/build/src
	drop_broken_cmake_cache /build/out
	drop_broken_cmake_cache "$src/build"
	if [ -f "$src/setup.py" ] && [ -d "$src/torch" ]; then
		# PyTorch, lean: CPU only, OpenBLAS, no tests or optional backends.
		export USE_CUDA=0 USE_ROCM=0 USE_DISTRIBUTED=0 USE_MKLDNN=0 USE_FBGEMM=0 USE_NNPACK=0 \
			USE_QNNPACK=0 USE_PYTORCH_QNNPACK=0 USE_XNNPACK=0 USE_KINETO=0 BUILD_TEST=0 \
			USE_MPI=0 USE_GLOO=0 USE_FLASH_ATTENTION=0 USE_MEM_EFF_ATTENTION=0 \
			BLAS=OpenBLAS MAX_JOBS="$JOBS" USE_CCACHE=0
		cd "$src" || return
		# build.ninja exists only once configuring succeeded.
		[ -f build/build.ninja ] || python3 setup.py build --cmake-only || return
		if [ -n "${BUILD_TARGET:-}" ]; then
			cmake --build build --target "$BUILD_TARGET" -- -j "$JOBS" || return
		else
			python3 setup.py bdist_wheel || return
			mkdir -p /mnt/share/wheels && cp dist/*.whl /mnt/share/wheels/ || return
		fi
	else
		# Any other CMake project: how the pipeline is tested where PyTorch's
		# source is not at hand.
		[ -f /build/out/build.ninja ] ||
			cmake -G Ninja -S "$src" -B /build/out -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF || return
		cmake --build /build/out ${BUILD_TARGET:+--target "$BUILD_TARGET"} -- -j "$JOBS" || return
	fi
}

# The log keeps everything; stdout (ninja's [n/N] lines) streams to the host.
# (dash has no pipefail: the status comes back through a file.)
{
	status=0
	build 2>&1 || status=$?
	echo "$status" > /build/logs/.status
} | tee -a "$log"
status=$(cat /build/logs/.status)
echo "build.sh: ccache: $(ccache --print-stats | awk -F'\t' '/^(direct_cache_hit|preprocessed_cache_hit|cache_miss)\t/ {printf "%s=%s ", $1, $2}')"
echo "build.sh: exit $status"
sync
exit "$status"
