//! Host tool checks behind `cargo xtask doctor`.
//!
//! The build hosts are Debian 12 machines where PID 1 is not systemd and where
//! qemu-utils already comes from bookworm-backports. Installing packages alone
//! is therefore not enough: the backports source, the `-t bookworm-backports`
//! pin (bookworm's qemu-system-misc 7.2 conflicts with qemu-utils 10.0) and the
//! binfmt_misc registration for riscv64 are all handled here explicitly.
//!
//! `tools.rs` is the table of tools, `probe.rs` finds them, `version.rs`
//! reads the version number out of what each prints, `table.rs` shows what
//! it found (a table, or JSON), `fix.rs` plans and applies `--fix`, `binfmt.rs` registers
//! the riscv64 handler, `os.rs` says which release and user this is.

mod binfmt;
mod fix;
mod os;
mod probe;
mod table;
mod tools;
mod version;

use anyhow::{bail, Result};
use xshell::Shell;

pub use binfmt::binfmt_riscv64_ok;
pub use os::is_root;
pub use probe::{probe, require};
pub use tools::{Tool, OPENSBI_FW};
pub use version::short_version;

/// What `doctor` is asked to do.
#[derive(Clone, Copy, Debug, Default)]
pub struct DoctorOptions {
    /// Install what is missing (as root).
    pub fix: bool,
    /// One JSON document on stdout instead of the table.
    pub json: bool,
}

/// Prints the tool table; with `fix` (as root) installs what is missing and
/// registers binfmt. Errs while anything is still missing.
pub fn doctor(sh: &Shell, options: DoctorOptions) -> Result<()> {
    let statuses = probe(sh);
    let missing = missing_tools(&statuses);
    if options.json {
        let codename = os::os_codename(sh).unwrap_or_default();
        let has_source = fix::has_backports_source(sh).unwrap_or(false);
        let root_fix = fix::fix_commands(&missing, &codename, has_source);
        let report = table::report(&statuses, root_fix, fix::user_commands(&missing));
        println!("{}", serde_json::to_string_pretty(&report)?);
        if !missing.is_empty() {
            bail!("{}", table::summary(&statuses));
        }
        return Ok(());
    }
    println!(
        "{}\n{}",
        table::render_table(&statuses),
        table::summary(&statuses)
    );
    if missing.is_empty() {
        return Ok(());
    }
    let codename = os::os_codename(sh);
    let has_source = fix::has_backports_source(sh).unwrap_or(false);
    let root = is_root()?;
    let apt_missing = missing.iter().any(|t| t.source != tools::Source::Cargo);
    if !options.fix || !root || !apt_missing {
        print_fix_commands(
            &missing,
            codename.as_deref().unwrap_or(""),
            has_source,
            root,
        );
        if options.fix && apt_missing {
            bail!("`cargo xtask doctor --fix` must run as root; run the commands above instead");
        }
        bail!(
            "{} host tools missing; {}",
            missing.len(),
            if apt_missing {
                "run `cargo xtask doctor --fix` (as root)"
            } else {
                "run the command above"
            }
        );
    }
    fix::apply(sh, &fix::fix_plan(&missing, &codename?, has_source))?;
    let statuses = probe(sh);
    println!(
        "\n{}\n{}",
        table::render_table(&statuses),
        table::summary(&statuses)
    );
    let still = missing_tools(&statuses);
    if !still.is_empty() {
        print_user_commands(&still);
        bail!("{} host tools still missing after --fix", still.len());
    }
    Ok(())
}

fn missing_tools(statuses: &[probe::ToolStatus]) -> Vec<&'static Tool> {
    statuses
        .iter()
        .filter(|s| s.path.is_none())
        .map(|s| s.tool)
        .collect()
}

/// What a user runs instead of `--fix`: as root, or each command under sudo;
/// then what they run as themself.
fn print_fix_commands(missing: &[&Tool], codename: &str, has_source: bool, root: bool) {
    let commands = fix::fix_commands(missing, codename, has_source);
    if !commands.is_empty() {
        println!(
            "\nto fix, run{}:",
            if root { " as root" } else { " with sudo" }
        );
        for c in commands {
            println!("  {}", if root { c } else { fix::with_sudo(&c) });
        }
    }
    print_user_commands(missing);
}

/// `cargo install` lines: printed, never run (see `fix.rs`).
fn print_user_commands(missing: &[&Tool]) {
    let commands = fix::user_commands(missing);
    if !commands.is_empty() {
        println!("\nas the user who runs `cargo xtask test` (not under sudo):");
        for c in commands {
            println!("  {c}");
        }
    }
}
