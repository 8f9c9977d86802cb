//! The whole command line, declared in one place.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Build RISC-V 64 Linux guest images for ACALSim from `acalsim.toml` and run them in QEMU.
///
/// Start with `cargo xtask doctor --fix` (host tools), then `cargo xtask image`
/// (builds the default image into target/xtask/images/NAME/).
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
pub struct Xtask {
    /// The project config; images and their defaults are declared there.
    #[arg(long, global = true, env = "ACALSIM_CONFIG", default_value = "acalsim.toml")]
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
    Test(Test),
    Bench(Bench),
}

/// Check the host tools this project needs (mmdebstrap, QEMU + OpenSBI, binfmt, e2fsprogs, …).
///
/// Prints a table of what was found with versions. With --fix (as root) installs what is
/// missing with apt — QEMU from bookworm-backports on Debian 12 — and registers the
/// riscv64 binfmt handler when PID 1 is not systemd. Without root it prints the commands.
#[derive(clap::Args, Debug)]
pub struct Doctor {
    /// Install missing tools and register binfmt (needs root).
    #[arg(long)]
    pub fix: bool,
}

/// Build a guest image (default: the config's `default_image`).
///
/// Output: target/xtask/images/NAME/ with the kernel, a minimal initrd, the rootfs
/// (ext4 raw, and qcow2 / initramfs cpio when listed in `formats`), manifest.json and a
/// self-contained run.sh. Nothing changed since the last build: finishes at once.
/// Packages added in `extra_packages` are installed on a cached base layer, so
/// iterating on them is fast. Downloads and layers are cached in
/// $XDG_CACHE_HOME/acalsim (default ~/.cache/acalsim); logs go to target/xtask/logs/.
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
}

/// List the images declared in the config and whether each is built.
#[derive(clap::Args, Debug)]
pub struct Images {}

/// Run the project's tests: unit tests and the end-to-end tests in `tests/`.
///
/// The end-to-end tests build real (small) Debian images with mmdebstrap, inspect
/// them and boot one in QEMU, so they need root and the host tools
/// (`cargo xtask doctor --fix`). Arguments after `--` go to `cargo test`
/// (e.g. `cargo xtask test -- bad_config`).
#[derive(clap::Args, Debug)]
pub struct Test {
    /// Extra arguments for `cargo test` (test name filters, --nocapture, …).
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// Measure build speed and sizes; results go to target/xtask/bench/<time>.json and .md.
///
/// Suite `image` (about 20 minutes here): the plain `mmdebstrap` command equivalent
/// to the image, our cold build with an empty cache, the no-change re-run, and the
/// image plus one extra package on the cached base layer — in one run, so the
/// ratios compare like with like. Needs root, like `image`.
#[derive(clap::Args, Debug)]
pub struct Bench {
    /// Suites to run.
    #[arg(default_values_t = ["image".to_string()])]
    pub suites: Vec<String>,
    /// Image to measure (default: the config's default_image).
    #[arg(long)]
    pub image: Option<String>,
    /// Leave out the plain mmdebstrap reference run (saves ~12 minutes).
    #[arg(long)]
    pub skip_plain: bool,
    /// The package added for the add-one-package figure.
    #[arg(long, default_value = "jq")]
    pub extra_package: String,
}
