//! Host tool checks behind `cargo xtask doctor`.
//!
//! The build hosts are Debian 12 machines where PID 1 is not systemd and where
//! qemu-utils already comes from bookworm-backports. Installing packages alone
//! is therefore not enough: the backports source, the `-t bookworm-backports`
//! pin (bookworm's qemu-system-misc 7.2 conflicts with qemu-utils 10.0) and the
//! binfmt_misc registration for riscv64 are all handled here explicitly.
//!
//! `tools.rs` is the table of tools, `probe.rs` finds them, `table.rs` shows
//! what it found, `fix.rs` plans and applies `--fix`, `binfmt.rs` registers
//! the riscv64 handler, `os.rs` says which release and user this is.

mod binfmt;
mod fix;
mod os;
mod probe;
mod table;
mod tools;

use anyhow::{bail, Result};
use xshell::Shell;

pub use binfmt::binfmt_riscv64_ok;
pub use os::is_root;
pub use probe::{probe, require};
pub use tools::{Tool, OPENSBI_FW};

/// Prints the tool table; with `fix` (as root) installs what is missing and
/// registers binfmt. Errs while anything is still missing.
pub fn doctor(sh: &Shell, fix: bool) -> Result<()> {
    let statuses = probe(sh);
    println!(
        "{}\n{}",
        table::render_table(&statuses),
        table::summary(&statuses)
    );
    let missing: Vec<&'static Tool> = statuses
        .iter()
        .filter(|s| s.path.is_none())
        .map(|s| s.tool)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let codename = os::os_codename(sh);
    let has_source = fix::has_backports_source(sh).unwrap_or(false);
    let root = is_root()?;
    if !fix || !root {
        print_fix_commands(
            &missing,
            codename.as_deref().unwrap_or(""),
            has_source,
            root,
        );
        if fix {
            bail!("`cargo xtask doctor --fix` must run as root; run the commands above instead");
        }
        bail!(
            "{} host tools missing; run `cargo xtask doctor --fix` (as root)",
            missing.len()
        );
    }
    fix::apply(sh, &fix::fix_plan(&missing, &codename?, has_source))?;
    let statuses = probe(sh);
    println!(
        "\n{}\n{}",
        table::render_table(&statuses),
        table::summary(&statuses)
    );
    let still = statuses.iter().filter(|s| s.path.is_none()).count();
    if still > 0 {
        bail!("{still} host tools still missing after --fix");
    }
    Ok(())
}

/// What a user runs instead of `--fix`: as root, or each command under sudo.
fn print_fix_commands(missing: &[&Tool], codename: &str, has_source: bool, root: bool) {
    let commands = fix::fix_commands(missing, codename, has_source);
    println!(
        "\nto fix, run{}:",
        if root { " as root" } else { " with sudo" }
    );
    for c in commands {
        println!("  {}", if root { c } else { fix::with_sudo(&c) });
    }
}
