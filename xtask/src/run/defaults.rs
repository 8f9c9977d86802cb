//! The defaults `cargo xtask run`'s flags and `Request::default()`
//! share, defined once so the CLI and library callers cannot drift apart.
//! Imports nothing, so `flags/` can use it without an import loop.

use std::path::PathBuf;

/// The environment variable that names the QEMU binary (e.g. ACALSim's build).
pub const QEMU_ENV: &str = "ACALSIM_QEMU";
/// The QEMU binary when neither `--qemu` nor [`QEMU_ENV`] names one.
pub const QEMU_DEFAULT: &str = "qemu-system-riscv64";
/// Seconds a headless command may run, from its start in the guest, before
/// the guest is killed (`--timeout`).
pub const TIMEOUT_SECS: u64 = 3600;
/// Seconds from QEMU's start until the guest starts the command
/// (`--boot-timeout`): a full boot under TCG on a slow machine takes a few
/// minutes; a hung one never ends.
pub const BOOT_TIMEOUT_SECS: u64 = 600;

/// `$ACALSIM_QEMU` if set, as clap resolves `--qemu`.
pub fn qemu() -> Option<PathBuf> {
    std::env::var_os(QEMU_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}
