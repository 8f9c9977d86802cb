//! What `doctor --fix` does, as data (`FixPlan`), the root shell commands
//! that plan amounts to (printed when xtask is not root) and `apply`, which
//! carries it out.
//!
//! A Rust crate (cargo-nextest) is only ever printed, as a command for the
//! user who runs the tests: `cargo install` builds it for minutes into that
//! user's cargo home, which is not root's, and it is no Debian package, so
//! `--fix` stays apt and binfmt.
//!
//! On bookworm the qemu packages come from bookworm-backports: bookworm's
//! qemu-system-misc 7.2 conflicts with the backported qemu-utils 10.0, so the
//! backports source and the `-t bookworm-backports` pin are handled here.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use super::binfmt::{binfmt_riscv64_ok, register_binfmt, register_commands, BINFMT_ENTRY};
use super::tools::{Source, Tool};

const BACKPORTS_SUITE: &str = "bookworm-backports";
const BACKPORTS_LIST: &str = "/etc/apt/sources.list.d/bookworm-backports.list";
const BACKPORTS_LINE: &str = "deb http://deb.debian.org/debian bookworm-backports main";
const APT_INSTALL: &str =
    "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends";

/// What `--fix` does, as data: printed by `fix_commands`, executed by `apply`.
#[derive(Debug, PartialEq)]
pub(super) struct FixPlan {
    add_backports_source: bool,
    apt: Vec<&'static str>,
    apt_backports: Vec<&'static str>,
    binfmt: bool,
    /// Crates for `cargo install --locked`, run by the user, never by `apply`.
    cargo: Vec<&'static str>,
}

pub(super) fn fix_plan(missing: &[&Tool], codename: &str, has_backports_source: bool) -> FixPlan {
    let (crates, missing): (Vec<&Tool>, Vec<&Tool>) = missing
        .iter()
        .copied()
        .partition(|t| t.source == Source::Cargo);
    let mut wanted: Vec<(&'static str, bool)> =
        missing.iter().map(|t| (t.package, t.backports())).collect();
    // Firmware and binfmt registration ship separately from the qemu binaries
    // and must come from the same qemu version.
    if missing.iter().any(|t| t.package.starts_with("qemu-")) {
        wanted.extend([("qemu-user-binfmt", true), ("qemu-system-data", true)]);
    }
    let mut packages: Vec<(&'static str, bool)> = Vec::new();
    for p in wanted {
        if !packages.contains(&p) {
            packages.push(p);
        }
    }
    let bookworm = codename == "bookworm";
    let (bpo, normal): (Vec<_>, Vec<_>) = packages.into_iter().partition(|&(_, b)| bookworm && b);
    FixPlan {
        add_backports_source: !bpo.is_empty() && !has_backports_source,
        apt: normal.into_iter().map(|p| p.0).collect(),
        apt_backports: bpo.into_iter().map(|p| p.0).collect(),
        binfmt: missing.iter().any(|t| t.command == BINFMT_ENTRY),
        cargo: crates.iter().map(|t| t.package).collect(),
    }
}

/// The commands the user runs themself (not root, not `--fix`): `cargo
/// install` of each missing crate.
pub(super) fn user_commands(missing: &[&Tool]) -> Vec<String> {
    fix_plan(missing, "", true)
        .cargo
        .iter()
        .map(|c| format!("cargo install --locked {c}"))
        .collect()
}

/// The root shell commands that fix `missing`, for humans to read or run.
pub(super) fn fix_commands(
    missing: &[&Tool],
    codename: &str,
    has_backports_source: bool,
) -> Vec<String> {
    let plan = &fix_plan(missing, codename, has_backports_source);
    let mut out = Vec::new();
    if plan.add_backports_source {
        out.push(format!("echo \"{BACKPORTS_LINE}\" > {BACKPORTS_LIST}"));
    }
    if !apt_steps(plan).is_empty() {
        out.push("apt-get update".to_string());
    }
    for (packages, pin) in apt_steps(plan) {
        out.push(
            [APT_INSTALL]
                .iter()
                .chain(pin)
                .chain(packages)
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    if plan.binfmt {
        out.extend(register_commands());
    }
    out
}

/// The `apt-get install` runs of a plan: packages plus the suite pin they need.
fn apt_steps(plan: &FixPlan) -> Vec<(&[&'static str], &'static [&'static str])> {
    let steps = [
        (&plan.apt[..], &[][..]),
        (&plan.apt_backports[..], &["-t", BACKPORTS_SUITE][..]),
    ];
    steps
        .into_iter()
        .filter(|(packages, _)| !packages.is_empty())
        .collect()
}

/// Prefixes a root command with sudo; shell syntax needs `sh -c` so the
/// redirections and env assignments also happen as root.
pub(super) fn with_sudo(command: &str) -> String {
    if command.contains(|c| "<>|&;[=".contains(c)) {
        format!("sudo sh -c '{command}'")
    } else {
        format!("sudo {command}")
    }
}

/// Carries out `plan` as root: the backports source, the apt runs, the binfmt
/// registration, then shows what `arch-test riscv64` says.
pub(super) fn apply(sh: &Shell, plan: &FixPlan) -> Result<()> {
    if plan.add_backports_source {
        sh.write_file(BACKPORTS_LIST, format!("{BACKPORTS_LINE}\n"))
            .with_context(|| format!("writing {BACKPORTS_LIST}"))?;
    }
    install_packages(sh, plan)?;
    if !binfmt_riscv64_ok() {
        register_binfmt(sh)?;
    }
    let out = cmd!(sh, "arch-test riscv64")
        .quiet()
        .ignore_status()
        .output()
        .context("running `arch-test riscv64`")?;
    let text = String::from_utf8_lossy(&out.stdout);
    println!(
        "$ arch-test riscv64\n{}{}",
        text.trim(),
        if out.status.success() {
            ""
        } else {
            " (arch-test FAILED)"
        }
    );
    Ok(())
}

/// `apt-get update`, then one `apt-get install` per suite pin.
fn install_packages(sh: &Shell, plan: &FixPlan) -> Result<()> {
    if !apt_steps(plan).is_empty() {
        cmd!(sh, "apt-get update")
            .run()
            .context("`apt-get update` failed")?;
    }
    for (packages, pin) in apt_steps(plan) {
        cmd!(
            sh,
            "apt-get install -y --no-install-recommends {pin...} {packages...}"
        )
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
        .with_context(|| {
            format!(
                "`apt-get install {} {}` failed",
                pin.join(" "),
                packages.join(" ")
            )
        })?;
    }
    Ok(())
}

/// apt reads only `*.list` and `*.sources` in sources.list.d, so disabled files don't count.
pub(super) fn has_backports_source(sh: &Shell) -> Result<bool> {
    let dir = "/etc/apt/sources.list.d";
    let mut files = if Path::new(dir).is_dir() {
        sh.read_dir(dir).with_context(|| format!("listing {dir}"))?
    } else {
        vec![]
    };
    files.push(PathBuf::from("/etc/apt/sources.list"));
    for file in files.iter().filter(|f| {
        f.is_file()
            && matches!(
                f.extension().and_then(|e| e.to_str()),
                Some("list" | "sources")
            )
    }) {
        let text = sh
            .read_file(file)
            .with_context(|| format!("reading {}", file.display()))?;
        if mentions_backports(&text) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn mentions_backports(text: &str) -> bool {
    text.lines()
        .any(|l| !l.trim_start().starts_with('#') && l.contains(BACKPORTS_SUITE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::binfmt::{BINFMT_REGISTER, SYSTEMD_BINFMT};
    use crate::host::tools::by_command as tools;

    #[test]
    fn bookworm_qemu_fix_adds_backports_source_and_pins_suite() {
        let cmds = fix_commands(
            &tools(&["cpio", "qemu-system-riscv64", "mkfs.ext4", "debugfs"]),
            "bookworm",
            false,
        );
        assert_eq!(
            cmds,
            vec![
                format!("echo \"{BACKPORTS_LINE}\" > {BACKPORTS_LIST}"),
                "apt-get update".to_string(),
                format!("{APT_INSTALL} cpio e2fsprogs"),
                format!("{APT_INSTALL} -t bookworm-backports qemu-system-misc qemu-user-binfmt qemu-system-data"),
            ]
        );
        assert!(!fix_commands(&tools(&["qemu-img"]), "bookworm", true)[0].starts_with("echo"));
    }

    #[test]
    fn other_releases_install_everything_from_the_default_suite() {
        let cmds = fix_commands(&tools(&["qemu-img", "gpgv"]), "trixie", false);
        assert_eq!(
            cmds,
            vec![
                "apt-get update".to_string(),
                format!("{APT_INSTALL} qemu-utils gpgv qemu-user-binfmt qemu-system-data")
            ]
        );
    }

    #[test]
    fn binfmt_fix_installs_package_registers_and_verifies() {
        let plan = fix_plan(&tools(&["binfmt riscv64"]), "bookworm", true);
        assert_eq!(
            plan,
            FixPlan {
                add_backports_source: false,
                apt: vec![],
                apt_backports: vec!["qemu-user-binfmt", "qemu-system-data"],
                binfmt: true,
                cargo: vec![],
            }
        );
        let cmds = fix_commands(&tools(&["binfmt riscv64"]), "bookworm", true);
        assert!(cmds[3].contains(SYSTEMD_BINFMT) && cmds[3].contains(BINFMT_REGISTER));
        assert_eq!(cmds.last().map(String::as_str), Some("arch-test riscv64"));
        assert!(fix_commands(&[], "bookworm", false).is_empty());
    }

    #[test]
    fn a_missing_crate_is_a_cargo_install_for_the_user_not_a_root_command() {
        let missing = tools(&["cargo-nextest", "zstd"]);
        assert_eq!(
            fix_commands(&missing, "bookworm", true),
            vec!["apt-get update".to_string(), format!("{APT_INSTALL} zstd")]
        );
        assert_eq!(
            user_commands(&missing),
            ["cargo install --locked cargo-nextest"]
        );
        assert!(user_commands(&tools(&["zstd"])).is_empty());
    }

    #[test]
    fn sudo_wraps_shell_syntax_in_sh_c() {
        assert_eq!(with_sudo("apt-get update"), "sudo apt-get update");
        assert_eq!(with_sudo("echo \"x\" > /f"), "sudo sh -c 'echo \"x\" > /f'");
        assert!(
            with_sudo(&format!("{APT_INSTALL} cpio")).starts_with("sudo sh -c 'DEBIAN_FRONTEND=")
        );
        for c in fix_commands(&tools(&["binfmt riscv64", "cpio"]), "bookworm", false) {
            assert!(
                !c.contains('\''),
                "single quote would break sudo sh -c: {c}"
            );
        }
    }

    #[test]
    fn backports_sources_are_recognised_unless_commented_out() {
        assert!(mentions_backports(
            "Types: deb\nSuites: bookworm bookworm-backports\n"
        ));
        assert!(!mentions_backports(
            "# deb http://deb.debian.org/debian bookworm-backports main\n"
        ));
    }
}
