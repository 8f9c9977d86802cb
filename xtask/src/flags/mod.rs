//! The whole command line, declared in one place.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod cosim;
mod run;
mod sweep;

pub use cosim::{Cosim, Sst, SstBuild, SstCommand, SstPeer};
use run::{parse_memory, parse_smp};
pub use run::{require_command_after_dashes, BootKind, Run};
pub use sweep::Sweep;

/// Build RISC-V 64 Linux guest images for ACALSim from `acalsim.toml` and run them in QEMU.
///
/// Start with `cargo xtask doctor --fix` (host tools), then `cargo xtask image`
/// (builds the default image into target/xtask/images/NAME/).
#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    max_term_width = 100
)]
pub struct Xtask {
    /// The project config; images and their defaults are declared there
    /// (default: acalsim.toml).
    #[arg(
        long,
        global = true,
        env = "ACALSIM_CONFIG",
        default_value = "acalsim.toml",
        hide_default_value = true
    )]
    pub config: PathBuf,
    /// Print every external command before it runs.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Doctor(Doctor),
    Image(Image),
    Images(Images),
    Run(Run),
    Snapshots(Snapshots),
    Ssh(Ssh),
    Buildroot(Buildroot),
    Qemu(Qemu),
    Cosim(Cosim),
    Sweep(Sweep),
    Sst(Sst),
    Pytorch(Pytorch),
    Test(Test),
    Bench(Bench),
}

/// Check the host tools this project needs (mmdebstrap, QEMU + OpenSBI, binfmt, e2fsprogs, …).
///
/// Prints a table of what was found with versions. With --fix (as root) installs what is
/// missing with apt — QEMU from bookworm-backports on Debian 12 — and registers the
/// riscv64 binfmt handler when PID 1 is not systemd. Without root it prints the commands.
/// cargo-nextest (the runner of `cargo xtask test`) is a Rust crate: its
/// `cargo install --locked cargo-nextest` is printed for you to run, never run by --fix.
///
/// --cosim checks co-simulation instead, one line per item, each not ready one ending
/// with the command that fixes it: the QEMU a session boots (the project's build, with
/// virtio-sst-device), ACALSim's sources, SST, the [cosim] image (built and current)
/// and its warm snapshot. It exits 1 while a needed one is not ready (QEMU and the image
/// always; ACALSim's sources while one of them is to be built; SST when [cosim] sst is set).
///
/// --json prints one JSON document instead. doctor: {ok, tools: [{name, ok, version,
/// banner, path, package, source (debian|backports|cargo), purpose}], fix_as_root: [..],
/// fix_as_user: [..]}. doctor --cosim: {ready, image, items: [{item, status, ok,
/// required, detail, fix}]} (status: ok, missing, outdated, unchecked, absent).
#[derive(clap::Args, Debug)]
pub struct Doctor {
    /// Install missing tools and register binfmt (needs root).
    #[arg(long, conflicts_with_all = ["json", "cosim"])]
    pub fix: bool,
    /// Check what a co-simulation needs instead of the host tools.
    #[arg(long)]
    pub cosim: bool,
    /// Print one JSON document on stdout (fields in --help).
    #[arg(long)]
    pub json: bool,
}

/// Build a guest image (default: the config's `default_image`).
///
/// Output: target/xtask/images/NAME/ with the kernel, a minimal initrd, the rootfs
/// (ext4 raw, and qcow2 / initramfs cpio when listed in `formats`), manifest.json and a
/// self-contained run.sh. Nothing changed since the last build: finishes at once.
/// Packages added in `extra_packages` are installed on a cached base layer, so
/// iterating on them is fast. Downloads and layers are cached in
/// $XDG_CACHE_HOME/acalsim (default: ~/.cache/acalsim); logs go to target/xtask/logs/.
#[derive(clap::Args, Debug)]
pub struct Image {
    /// Image name from acalsim.toml (see `cargo xtask images`).
    pub name: Option<String>,
    /// Build even if the image is up to date (the cached base layer is reused).
    #[arg(long)]
    pub rebuild: bool,
    /// Also ignore the cached base layer: bootstrap from scratch.
    #[arg(long)]
    pub no_cache: bool,
    /// Buildroot images: never download; fail at once, listing every source
    /// file missing from the download directory ($XDG_CACHE_HOME/acalsim/buildroot/dl
    /// or BR2_DL_DIR).
    #[arg(long)]
    pub offline: bool,
}

/// Log in to a guest started with `cargo xtask run --ssh`, or run one command there
///
///   cargo xtask ssh                          (a shell in the default image's running guest)
///   cargo xtask ssh debian-base -- uname -a  (one command in debian-base's running guest)
///
/// Waits (up to --wait seconds) for the guest's sshd, then runs the host's ssh with
/// the project's key (kept in $XDG_CACHE_HOME/acalsim/ssh) on 127.0.0.1.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Ssh {
    /// Image name (default: the config's default_image).
    pub name: Option<String>,
    /// Command to run instead of a login shell.
    #[arg(last = true)]
    pub command: Vec<String>,
    /// Seconds to wait for the guest's sshd to answer (default: 120).
    #[arg(long, default_value_t = 120, hide_default_value = true)]
    pub wait: u64,
}

/// Buildroot images: the generated defconfig and the Kconfig check.
///
/// The `buildroot-external/` tree's defconfigs are generated from the
/// `[images.NAME.buildroot]` tables of acalsim.toml. `check` runs the real Kconfig of
/// the pinned Buildroot on one and names every requested symbol it dropped or
/// changed, and why, the kernel and headers kept, and every source file a build
/// downloads with the checksum Buildroot holds for it. The Buildroot source comes
/// from the config (git tag verified against its commit, or a tarball against its
/// sha256) or, offline, from ACALSIM_BUILDROOT_SRC (a checkout or tarball); an
/// image's ACALSim kernel_modules from ACALSIM_SRC.
#[derive(clap::Args, Debug)]
pub struct Buildroot {
    #[command(subcommand)]
    pub command: BuildrootCommand,
}

#[derive(Subcommand, Debug)]
pub enum BuildrootCommand {
    Defconfig(BuildrootDefconfig),
    Check(BuildrootCheck),
}

/// Rewrite buildroot-external/configs/*_defconfig from acalsim.toml.
#[derive(clap::Args, Debug)]
pub struct BuildrootDefconfig {
    /// Only compare; fail if a committed defconfig differs from the generated one.
    #[arg(long)]
    pub check: bool,
    /// Print image IMAGE's defconfig on stdout instead of writing files
    /// (e.g. for `buildroot check IMAGE --defconfig FILE`).
    #[arg(long, value_name = "IMAGE", conflicts_with = "check")]
    pub print: Option<String>,
}

/// Run Buildroot's Kconfig on a defconfig: dropped or changed symbols, the
/// kernel kept, and every download with its checksum (to pre-stage BR2_DL_DIR).
#[derive(clap::Args, Debug)]
pub struct BuildrootCheck {
    /// Buildroot image (default: the first with flavour buildroot).
    pub name: Option<String>,
    /// Check this defconfig file instead of the image's generated one.
    #[arg(long, value_name = "FILE")]
    pub defconfig: Option<PathBuf>,
    /// Plain Buildroot, without buildroot-external/ (and so without its fixes).
    #[arg(long)]
    pub no_external: bool,
}

/// The project's own qemu-system-riscv64, with ACALSim's virtio-sst-device built in.
#[derive(clap::Args, Debug)]
pub struct Qemu {
    #[command(subcommand)]
    pub command: QemuCommand,
}

#[derive(Subcommand, Debug)]
pub enum QemuCommand {
    Build(QemuBuild),
    Info(QemuInfo),
}

/// Build QEMU (riscv64-softmmu, 9p, user networking) with ACALSim's virtio-sst-device
///
/// The source is the `[qemu]` table of acalsim.toml: by default Debian's QEMU 10.2.2
/// upstream tarball from the configured mirror, accepted only if its sha256 is the one
/// in sid's signed Sources index (gpgv on InRelease, then Sources.xz by its hash); or a
/// local tarball pinned by sha256, or a git checkout pinned by commit. ACALSim's device
/// (virtio-device/ of its src/qemu-acalsim-sst-linux) comes from ACALSIM_SRC or
/// `[qemu] acalsim`: a checkout, that directory, or a tarball. It is built unmodified;
/// the project's glue (qemu/acalsim/) and patches (qemu/patches/) bridge QEMU 7.0's API.
///
/// Cached in $XDG_CACHE_HOME/acalsim/qemu/KEY/ under a key of the source, ACALSim's
/// device files, the glue, the configure line, the compiler and the firmware, so a
/// re-run with nothing changed finishes at once. Afterwards every `run` boots it;
/// target/xtask/qemu.json records it. Log: target/xtask/logs/qemu-build.log.
///
///   ACALSIM_SRC=~/acalsim cargo xtask qemu build
///   cargo xtask run cosim --sst-socket /tmp/sst.sock -- python3 /mnt/scripts/sst/sst_check.py
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct QemuBuild {
    /// Build even if a build with the same key is cached.
    #[arg(long)]
    pub rebuild: bool,
    /// Keep the unpacked source and build directory (for debugging the glue).
    #[arg(long)]
    pub keep_work: bool,
}

/// Print the project's QEMU build: path, version, sha256, source.
///
/// --json prints the record itself (target/xtask/qemu.json): {binary, version, sha256,
/// key, source, acalsim, acalsim_device_sha256, firmware_sha256, built_at, build_secs}.
#[derive(clap::Args, Debug)]
pub struct QemuInfo {
    /// Print the record as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Build PyTorch from source inside the guest: resumable, ccache, host-offloaded compiles.
#[derive(clap::Args, Debug)]
pub struct Pytorch {
    #[command(subcommand)]
    pub command: PytorchCommand,
}

#[derive(Subcommand, Debug)]
pub enum PytorchCommand {
    Build(PytorchBuild),
}

/// Compile a source tree in the guest (PyTorch, lean: CPU, OpenBLAS, no tests)
///
/// The tree is copied once onto a persistent build disk in
/// $XDG_CACHE_HOME/acalsim/pytorch/ that also holds the build directory and the
/// ccache: after Ctrl-C, a timeout or a reboot, the same command continues where
/// the build stopped. Compiles go to distccd on the host (127.0.0.1 only), which runs
/// Debian's riscv64 cross compiler of exactly the guest's g++ version in a cached
/// amd64 root; a version mismatch is reported and the guest compiles itself.
/// Progress ([n/N], ETA) on the terminal, the full log in target/xtask/logs/pytorch-build.log;
/// a full build's wheel lands in target/xtask/wheels/.
///
///   cargo xtask pytorch build --source ~/pytorch --target c10   (stops at CMake target c10)
///   cargo xtask pytorch build --source ~/pytorch                (the wheel)
///
/// Any other CMake project builds the same way (how the pipeline is tested here).
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct PytorchBuild {
    /// The source: a checkout, a tarball, or debian:PACKAGE, a Debian source package of
    /// the image's suite fetched and verified by apt (default: debian:pytorch).
    #[arg(long)]
    pub source: Option<String>,
    /// Stop at this CMake target (e.g. c10, torch_cpu) instead of building the wheel.
    #[arg(long)]
    pub target: Option<String>,
    /// Compile in the guest only.
    #[arg(long)]
    pub no_offload: bool,
    /// Use g++-N (default: the newest the host's cross compiler matches exactly).
    #[arg(long, value_name = "N")]
    pub gcc: Option<u32>,
    /// Parallel jobs (default: host cores + 1 with offload, else guest memory / 1.5 GiB).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// The image to build in (default: pytorch-build).
    #[arg(long, default_value = "pytorch-build", hide_default_value = true)]
    pub image: String,
    /// Virtual CPUs, 1 to 512 (default: the image's run.smp).
    #[arg(long, value_parser = parse_smp)]
    pub smp: Option<u32>,
    /// Guest memory, at least 128M, e.g. 6G (default: the image's run.memory).
    #[arg(long, value_parser = parse_memory)]
    pub memory: Option<u64>,
    /// Seconds before the guest is stopped, 0 for no limit (default: 0); re-run to resume.
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub timeout: u64,
    /// Start over: a new build disk (source copied again, empty build dir and ccache).
    #[arg(long)]
    pub fresh: bool,
    /// Remove the build directory first but keep the ccache (a rebuild from the cache).
    #[arg(long)]
    pub clean: bool,
    /// Compile without ccache (for measuring the compilers themselves).
    #[arg(long)]
    pub no_ccache: bool,
    /// Re-bootstrap the cached cross-compiler root (after the archive moved on).
    #[arg(long)]
    pub refresh_toolchain: bool,
}

/// List the warm-start snapshots (`run --warm`) with their sizes and keys, or remove them.
///
/// A snapshot is a booted guest with the image's warm-up modules imported, saved by the
/// first `cargo xtask run --warm` of an image on a machine shape (smp, memory, devices,
/// QEMU) and restored by every later one. They live in $XDG_CACHE_HOME/acalsim/snapshots;
/// the guest RAM file is sparse, so ON DISK is what it takes. STATE says whether the
/// image is still as the snapshot saw it: after a rebuild or a `run --persist` the next
/// warm run saves a new snapshot and the old one is stale (`--prune` removes those).
///
/// --json prints one JSON document instead: {dir, snapshots: [{key, image, smp,
/// memory_mib, warmup, on_disk_bytes, ram_file_bytes, created, qemu, state
/// (current|stale|unknown|unreadable), stale_because}]}.
#[derive(clap::Args, Debug)]
pub struct Snapshots {
    /// Remove every snapshot no run is using.
    #[arg(long, conflicts_with_all = ["prune", "json"])]
    pub clean: bool,
    /// Remove the stale snapshots: those whose image was rebuilt, removed or
    /// written (`run --persist`) since, which no run can restore any more.
    #[arg(long, conflicts_with = "json")]
    pub prune: bool,
    /// Print the list as one JSON document (fields above).
    #[arg(long)]
    pub json: bool,
}

/// List the images declared in the config and whether each is built.
///
/// PACKAGES is the number of Debian packages the config asks for (package sets, the
/// kernel, extra_packages, less remove_packages; Buildroot: its packages), then the
/// sets, `+N` extra packages, `-N` removed ones and `+N whl` wheels.
///
/// --json prints one JSON document instead: {default_image, images: [{name, flavour,
/// release, default, description, package_sets, packages, extra_packages,
/// removed_packages, wheels, state (current|outdated|unchecked|not-built), built_at,
/// installed_packages, not_checked_because, dir}]}.
#[derive(clap::Args, Debug)]
pub struct Images {
    /// Print the list as one JSON document (fields above).
    #[arg(long)]
    pub json: bool,
}

/// Run the project's tests, then print each test's wall time, slowest first
///
/// Tiers (a test's tier is in its name: `full_…` tests run only with --full):
///   (default)  what CI runs: unit tests, the tidy test, the config-error and
///              Buildroot Kconfig tests, and the end-to-end tests that build small
///              Debian images with mmdebstrap and boot them in QEMU
///   --quick    unit tests, the tidy test and the config-error tests: no image
///              build and no QEMU, under two minutes; the loop while editing
///   --full     everything, including the `full_…` tests too long for CI
///
/// The end-to-end tests need root and the host tools (`cargo xtask doctor --fix`,
/// which also installs what the tidy test runs: shellcheck, flake8, python3-magic).
/// The runner is cargo-nextest (`cargo install --locked cargo-nextest`); arguments
/// after `--` go to `cargo nextest run`, e.g. `cargo xtask test -- -E 'test(ssh)'`
/// or `cargo xtask test -- bad_config`. The timing table is also written to
/// target/xtask/test-times.md.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Test {
    /// Unit tests, the tidy test and the config-error tests only (no QEMU, no image build).
    #[arg(long, conflicts_with = "full")]
    pub quick: bool,
    /// Also the `full_…` tests that are too long for CI.
    #[arg(long)]
    pub full: bool,
    /// Extra arguments for `cargo nextest run` (test name filters, -E FILTERSET, …).
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// Measure speed and size in suites of figures, one results file per run
///
/// The results file is target/xtask/bench/<time>-SUITES.json, with a Markdown table
/// (.md) and a plot (.svg) beside it.
///
/// Suites (default: boot and torch with --quick's settings, a few minutes on the default
/// image; `--quick` without suites adds llama; the others run only when named):
///   image    the plain `mmdebstrap` command equivalent to the image, our cold build
///            with an empty cache, the no-change re-run and one extra package (~30 min,
///            needs root, like `image`)
///   boot     `run -- true` end to end (fast, initramfs, full systemd) and the
///            interactive boot to the login prompt (--quick: the fast boots only);
///            `run --warm -- true` beside the fast boot (goal: warm <= 0.15x cold)
///   torch    `import torch` time and fp32 GEMM GFLOP/s at smp 1 and 2 (--quick: 2)
///            (guest-scripts/gemm_bench.py); a whole `run --warm -- python3 -c
///            'import torch; …'` against the same cold (goal: warm <= 0.05x cold)
///   llama    the tiny LLaMA: prefill/decode tokens/s with torch (llama_torch.py) and
///            llama.cpp (llama_cpp.py) in the `debian-sid-llama` image
///   compile  `pytorch build` of one target offloaded to the host and in the guest
///            only, same compiler; needs the pytorch-build image (51 min for 3 repeats
///            of libninja on a slow machine, 2026-11-30)
///   cosim    round trips/s and latency (min, median, p99) through /dev/sst0 at smp 2 in
///            a `cosim` session with the reference peer: ECHO (answered inside QEMU) and
///            COMPUTE (through the socket); needs `qemu build` and the [cosim] image
///   sweep    a warm sweep point's overhead, and points per hour of
///            experiments/tiny-llama.toml (--quick: sst-compute.toml) at --jobs 1 and 2,
///            and through Slurm when a cluster answers; needs the [cosim] image
///
/// The warm rows (restore time, snapshot size) need the project's QEMU 10.2
/// (`qemu build`; --no-warm leaves them out); the first makes the image's snapshot if
/// it has none. Each figure is repeated --repeat times and reported as median, min and
/// max. Guest suites need their image built (`cargo xtask image NAME`).
///
///   cargo xtask bench                          (boot and torch, quick)
///   cargo xtask bench image --skip-plain       (the image build figures, as root)
///   cargo xtask bench boot torch --compare target/xtask/bench/OLD.json
#[derive(clap::Args, Debug, Default, Clone)]
#[command(verbatim_doc_comment)]
pub struct Bench {
    /// Suites to run: image, boot, torch, llama, compile, cosim, sweep (default: boot
    /// and torch, with --quick's settings).
    pub suites: Vec<String>,
    /// Keep every suite to minutes: one repeat, the smallest sizes, and the
    /// boot, torch and llama suites unless others are named.
    #[arg(long)]
    pub quick: bool,
    /// An earlier results file: print new/old ratios for the figures both have.
    #[arg(long, value_name = "OLD.json")]
    pub compare: Option<PathBuf>,
    /// Image for the image, boot and torch suites (default: the config's default_image).
    #[arg(long)]
    pub image: Option<String>,
    /// Image for the llama suite (default: debian-sid-llama).
    #[arg(long, default_value = "debian-sid-llama", hide_default_value = true)]
    pub llama_image: String,
    /// Leave out the plain mmdebstrap reference run (saves about 20 minutes).
    #[arg(long)]
    pub skip_plain: bool,
    /// The package added for the add-one-package figure (default: jq).
    #[arg(long, default_value = "jq", hide_default_value = true)]
    pub extra_package: String,
    /// Leave out the warm rows of the boot and torch suites (they need `qemu build`).
    #[arg(long)]
    pub no_warm: bool,
    /// Repeats of each timed figure (default: 3; 1 with --quick).
    #[arg(long)]
    pub repeat: Option<usize>,
    /// Source the compile suite builds, as `pytorch build --source` (default: debian:ninja-build).
    #[arg(long, default_value = "debian:ninja-build", hide_default_value = true)]
    pub compile_source: String,
    /// The CMake target the compile suite builds (default: ninja).
    #[arg(long, default_value = "ninja", hide_default_value = true)]
    pub compile_target: String,
}

impl Bench {
    pub fn repeats(&self) -> usize {
        self.repeat.unwrap_or(if self.quick { 1 } else { 3 }).max(1)
    }
}
