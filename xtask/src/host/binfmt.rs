//! The binfmt_misc handler that lets the kernel run riscv64 ELF binaries
//! through qemu-riscv64: whether it is enabled, and registering it by hand.
//!
//! Installing qemu-user-binfmt only registers the handler when systemd is
//! PID 1, which it is not on the build hosts.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// binfmt_misc entry that lets mmdebstrap run riscv64 maintainer scripts through qemu-riscv64.
pub const BINFMT_ENTRY: &str = "/proc/sys/fs/binfmt_misc/qemu-riscv64";
const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";
pub(super) const BINFMT_REGISTER: &str = "/proc/sys/fs/binfmt_misc/register";
const BINFMT_CONF: &str = "/usr/lib/binfmt.d/qemu-riscv64.conf";
pub(super) const SYSTEMD_BINFMT: &str = "/usr/lib/systemd/systemd-binfmt";

/// True when the kernel will run riscv64 ELF binaries through qemu.
pub fn binfmt_riscv64_ok() -> bool {
    std::fs::read_to_string(BINFMT_ENTRY)
        .map(|s| binfmt_enabled(&s))
        .unwrap_or(false)
}

fn binfmt_enabled(entry: &str) -> bool {
    entry.lines().next().map(str::trim) == Some("enabled")
}

/// The root shell commands that `register_binfmt` amounts to, for humans to
/// read or run, then the check that riscv64 binaries run.
pub(super) fn register_commands() -> Vec<String> {
    vec![
        format!("[ -e {BINFMT_REGISTER} ] || mount -t binfmt_misc binfmt_misc {BINFMT_DIR}"),
        format!("if [ -x {SYSTEMD_BINFMT} ]; then {SYSTEMD_BINFMT} {BINFMT_CONF}; else grep ^: {BINFMT_CONF} > {BINFMT_REGISTER}; fi"),
        "arch-test riscv64".to_string(),
    ]
}

/// Registers (or re-enables) the handler: mounts binfmt_misc if needed, then
/// lets systemd-binfmt read the qemu-user-binfmt rule, or writes the rule itself.
pub(super) fn register_binfmt(sh: &Shell) -> Result<()> {
    if !Path::new(BINFMT_REGISTER).exists() {
        cmd!(sh, "mount -t binfmt_misc binfmt_misc {BINFMT_DIR}")
            .run()
            .with_context(|| format!("mounting {BINFMT_DIR}"))?;
    }
    if Path::new(BINFMT_ENTRY).exists() {
        // Registered but disabled: re-registering would fail with EEXIST.
        sh.write_file(BINFMT_ENTRY, "1")
            .with_context(|| format!("enabling {BINFMT_ENTRY}"))?;
    } else if Path::new(SYSTEMD_BINFMT).exists() {
        cmd!(sh, "{SYSTEMD_BINFMT} {BINFMT_CONF}")
            .run()
            .with_context(|| format!("`{SYSTEMD_BINFMT} {BINFMT_CONF}` failed"))?;
    } else {
        let conf = sh
            .read_file(BINFMT_CONF)
            .with_context(|| format!("reading {BINFMT_CONF}"))?;
        let rule =
            binfmt_rule(&conf).with_context(|| format!("no binfmt rule in {BINFMT_CONF}"))?;
        sh.write_file(BINFMT_REGISTER, rule)
            .with_context(|| format!("writing {BINFMT_REGISTER}"))?;
    }
    if !binfmt_riscv64_ok() {
        bail!("registered riscv64 binfmt handler but {BINFMT_ENTRY} is not enabled");
    }
    Ok(())
}

/// The registration line of a binfmt.d file (comments start with `#` or `;`).
fn binfmt_rule(conf: &str) -> Option<&str> {
    conf.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binfmt_entry_and_rule_are_read_right() {
        assert!(binfmt_enabled(
            "enabled\ninterpreter /usr/libexec/qemu-binfmt/riscv64-binfmt-P\n"
        ));
        assert!(!binfmt_enabled("disabled\nenabled\n") && !binfmt_enabled(""));
        assert_eq!(
            binfmt_rule("# comment\n\n:qemu-riscv64:M::\\x7f:\\xff:/q:OPF\n"),
            Some(":qemu-riscv64:M::\\x7f:\\xff:/q:OPF")
        );
    }
}
