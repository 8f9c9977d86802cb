//! Finding the host tools: where each is (PATH plus the sbin directories),
//! which version it reports, and `require`, the check commands run first.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

use super::binfmt::{binfmt_riscv64_ok, BINFMT_ENTRY};
use super::tools::{Source, Tool, TOOLS};
use super::version::short_version;

const BPO_NOTE: &str = ", from bookworm-backports on bookworm";

/// What `probe` found: `path` is `None` when the tool (or pseudo-check) is missing.
pub struct ToolStatus {
    pub tool: &'static Tool,
    pub path: Option<PathBuf>,
    /// The first line of its version output with a digit in it (for
    /// pseudo-checks and DPKG tools, the package's Debian version).
    pub banner: Option<String>,
}

impl ToolStatus {
    /// The version number in the banner, e.g. `1.5.4`.
    pub fn version(&self) -> Option<String> {
        self.banner.as_deref().and_then(short_version)
    }
}

/// Locates every tool and asks it for its version. Never fails: a tool that
/// cannot be found or run is simply reported without path or version.
pub fn probe(sh: &Shell) -> Vec<ToolStatus> {
    let path_var = sh.var("PATH").unwrap_or_default();
    TOOLS
        .iter()
        .map(|tool| {
            let path = locate(tool.command, &path_var);
            let banner = path.as_deref().and_then(|p| version_of(sh, tool, p));
            ToolStatus { tool, path, banner }
        })
        .collect()
}

/// PATH lookup plus /usr/sbin and /sbin, which a non-root PATH often lacks
/// (mkfs.ext4, debugfs and debootstrap live there), and cargo's own `bin`,
/// where `cargo install` puts a subcommand that `cargo` finds off PATH.
fn locate(command: &str, path_var: &str) -> Option<PathBuf> {
    if command == BINFMT_ENTRY {
        return binfmt_riscv64_ok().then(|| PathBuf::from(BINFMT_ENTRY));
    }
    if command.contains('/') {
        return Path::new(command).is_file().then(|| PathBuf::from(command));
    }
    std::env::split_paths(path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .chain(cargo_bin())
        .map(|dir| dir.join(command))
        .find(|p| is_executable(p))
}

/// `$CARGO_HOME/bin`, by default `~/.cargo/bin`.
fn cargo_bin() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    Some(home.join("bin"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn version_of(sh: &Shell, tool: &Tool, path: &Path) -> Option<String> {
    let cmd = if tool.version_args.is_empty() {
        let (format, package) = ("${Version}", tool.package);
        cmd!(sh, "dpkg-query -W -f {format} {package}")
    } else {
        let args = tool.version_args;
        cmd!(sh, "{path} {args...}")
    };
    // Some tools (mkfs.ext4 -V) print their version on stderr, so read both.
    let out = cmd.quiet().ignore_status().output().ok()?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    first_version_line(&text)
}

/// The first line that contains a digit, trimmed: skips banners and blank lines.
fn first_version_line(output: &str) -> Option<String> {
    output
        .lines()
        .map(str::trim)
        .find(|l| l.chars().any(|c| c.is_ascii_digit()))
        .map(String::from)
}

/// Fails naming each missing command and the package that provides it.
pub fn require(sh: &Shell, commands: &[&str]) -> Result<()> {
    let path_var = sh.var("PATH").unwrap_or_default();
    let missing: Vec<&str> = commands
        .iter()
        .copied()
        .filter(|c| locate(c, &path_var).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    bail!("{}", require_message(&missing))
}

fn require_message(missing: &[&str]) -> String {
    let mut msg = String::from("missing host tools:\n");
    for command in missing {
        msg += &match TOOLS.iter().find(|t| t.command == *command) {
            Some(t) if t.source == Source::Cargo => {
                format!("  {command} (`cargo install --locked {}`)\n", t.package)
            }
            Some(t) => {
                format!(
                    "  {command} (Debian package {}{})\n",
                    t.package,
                    if t.backports() { BPO_NOTE } else { "" }
                )
            }
            None => format!("  {command}\n"),
        };
    }
    msg + "run `cargo xtask doctor --fix`"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_line_skips_banners_and_reads_stderr_text() {
        assert_eq!(
            first_version_line(
                "\n  mke2fs 1.47.0 (5-Feb-2023)\n\tUsing EXT2FS Library version 1.47.0\n"
            ),
            Some("mke2fs 1.47.0 (5-Feb-2023)".into())
        );
        assert_eq!(
            first_version_line("usage: foo\nfoo 2.1\n"),
            Some("foo 2.1".into())
        );
        assert_eq!(first_version_line("no version here\n\n"), None);
    }

    #[test]
    fn require_message_names_packages_and_the_fix() {
        let msg = require_message(&["mkfs.ext4", "qemu-img", "frobnicate"]);
        assert!(msg.contains("mkfs.ext4 (Debian package e2fsprogs)"));
        assert!(msg.contains("qemu-img (Debian package qemu-utils, from bookworm-backports"));
        assert!(msg.contains("  frobnicate\n") && msg.ends_with("run `cargo xtask doctor --fix`"));
    }
}
