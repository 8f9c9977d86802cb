//! Host tool checks behind `cargo xtask doctor`.
//!
//! The build hosts are Debian 12 machines where PID 1 is not systemd and where
//! qemu-utils already comes from bookworm-backports. Installing packages alone
//! is therefore not enough: the backports source, the `-t bookworm-backports`
//! pin (bookworm's qemu-system-misc 7.2 conflicts with qemu-utils 10.0) and the
//! binfmt_misc registration for riscv64 are all handled here explicitly.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// Firmware qemu's `virt` machine loads for `-bios default`; without it the guest never starts.
pub const OPENSBI_FW: &str = "/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin";
/// Buildroot's `utils/check-package` imports `magic` (Debian's python3 module).
const PYTHON_MAGIC: &str = "/usr/lib/python3/dist-packages/magic/__init__.py";
/// binfmt_misc entry that lets mmdebstrap run riscv64 maintainer scripts through qemu-riscv64.
pub const BINFMT_ENTRY: &str = "/proc/sys/fs/binfmt_misc/qemu-riscv64";
const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";
const BINFMT_REGISTER: &str = "/proc/sys/fs/binfmt_misc/register";
const BINFMT_CONF: &str = "/usr/lib/binfmt.d/qemu-riscv64.conf";
const SYSTEMD_BINFMT: &str = "/usr/lib/systemd/systemd-binfmt";
const BACKPORTS_SUITE: &str = "bookworm-backports";
const BACKPORTS_LIST: &str = "/etc/apt/sources.list.d/bookworm-backports.list";
const BACKPORTS_LINE: &str = "deb http://deb.debian.org/debian bookworm-backports main";
const BPO_NOTE: &str = ", from bookworm-backports on bookworm";
const APT_INSTALL: &str =
    "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends";

/// One host tool the project needs.
pub struct Tool {
    /// Name shown in the doctor table.
    pub name: &'static str,
    /// Program looked up on PATH, or an absolute path for the pseudo-checks (firmware, binfmt).
    pub command: &'static str,
    /// Arguments that print a version; empty means "ask dpkg-query for the package version".
    pub version_args: &'static [&'static str],
    /// Debian package that provides it.
    pub package: &'static str,
    /// On bookworm, install from bookworm-backports (qemu 10 instead of 7.2).
    pub backports: bool,
    pub purpose: &'static str,
}

#[rustfmt::skip]
const fn t(name: &'static str, command: &'static str, version_args: &'static [&'static str], package: &'static str, backports: bool, purpose: &'static str) -> Tool {
    Tool { name, command, version_args, package, backports, purpose }
}
const VERSION: &[&str] = &["--version"];
const DASH_V: &[&str] = &["-V"];
const DPKG: &[&str] = &[];

// mmdebstrap and debootstrap come from backports on bookworm too: sid moves
// (apt 3, dpkg 1.23, merged /usr) and the bootstrappers follow it there.
#[rustfmt::skip]
pub const TOOLS: &[Tool] = &[
    t("mmdebstrap", "mmdebstrap", VERSION, "mmdebstrap", true, "build the riscv64 root filesystem"),
    t("debootstrap", "debootstrap", DPKG, "debootstrap", true, "fallback bootstrapper / suite scripts"),
    t("qemu-system-riscv64", "qemu-system-riscv64", VERSION, "qemu-system-misc", true, "boot the guest"),
    t("qemu-riscv64", "qemu-riscv64", VERSION, "qemu-user", true, "run riscv64 binaries during bootstrap"),
    t("qemu-img", "qemu-img", VERSION, "qemu-utils", true, "create and convert disk images"),
    t("mkfs.ext4", "mkfs.ext4", DASH_V, "e2fsprogs", false, "format the root filesystem image"),
    t("debugfs", "debugfs", DASH_V, "e2fsprogs", false, "inspect ext4 images without mounting"),
    t("dumpe2fs", "dumpe2fs", DASH_V, "e2fsprogs", false, "measure the space used in the image"),
    t("zstd", "zstd", VERSION, "zstd", false, "compress image artifacts"),
    t("cpio", "cpio", VERSION, "cpio", false, "pack initramfs archives"),
    t("xz", "xz", VERSION, "xz-utils", false, "decompress .xz artifacts"),
    t("arch-test", "arch-test", DPKG, "arch-test", false, "check riscv64 binaries can execute"),
    t("unshare", "unshare", VERSION, "util-linux", false, "user namespaces for mmdebstrap"),
    t("gpgv", "gpgv", VERSION, "gpgv", false, "verify Debian archive signatures"),
    t("ssh", "ssh", DASH_V, "openssh-client", false, "log in to a guest (run --ssh, cargo xtask ssh)"),
    t("dpkg-source", "dpkg-source", VERSION, "dpkg-dev", false, "unpack Debian source packages (pytorch build)"),
    t("make", "make", VERSION, "make", false, "Buildroot: its build system"),
    t("g++", "g++", VERSION, "g++", false, "Buildroot: host compiler for its toolchain"),
    t("git", "git", VERSION, "git", false, "Buildroot: fetch the pinned source"),
    t("rsync", "rsync", VERSION, "rsync", false, "Buildroot: rootfs overlays"),
    t("bc", "bc", VERSION, "bc", false, "Buildroot: kernel build"),
    t("unzip", "unzip", DPKG, "unzip", false, "Buildroot: some package sources"),
    t("file", "file", VERSION, "file", false, "Buildroot: dependency check"),
    t("patch", "patch", VERSION, "patch", false, "Buildroot: package patches"),
    t("wget", "wget", VERSION, "wget", false, "Buildroot: downloads"),
    t("shellcheck", "shellcheck", VERSION, "shellcheck", false, "tests: the tidy test checks every shell script"),
    t("flake8", "flake8", VERSION, "flake8", false, "tests: Buildroot's check-package lints Python with it"),
    t("python3-magic", PYTHON_MAGIC, DPKG, "python3-magic", false, "tests: Buildroot's check-package needs it"),
    t("opensbi firmware", OPENSBI_FW, DPKG, "qemu-system-data", true, "riscv64 firmware for qemu virt"),
    t("binfmt riscv64", BINFMT_ENTRY, DPKG, "qemu-user-binfmt", true, "kernel runs riscv64 ELF via qemu"),
];

/// What `probe` found: `path` is `None` when the tool (or pseudo-check) is missing.
pub struct ToolStatus {
    pub tool: &'static Tool,
    pub path: Option<PathBuf>,
    pub version: Option<String>,
}

/// Locates every tool and asks it for its version. Never fails: a tool that
/// cannot be found or run is simply reported without path or version.
pub fn probe(sh: &Shell) -> Vec<ToolStatus> {
    let path_var = sh.var("PATH").unwrap_or_default();
    TOOLS
        .iter()
        .map(|tool| {
            let path = locate(tool.command, &path_var);
            let version = path.as_deref().and_then(|p| version_of(sh, tool, p));
            ToolStatus {
                tool,
                path,
                version,
            }
        })
        .collect()
}

/// PATH lookup plus /usr/sbin and /sbin, which a non-root PATH often lacks
/// (mkfs.ext4, debugfs and debootstrap live there).
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
        .map(|dir| dir.join(command))
        .find(|p| is_executable(p))
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

/// True when the kernel will run riscv64 ELF binaries through qemu.
pub fn binfmt_riscv64_ok() -> bool {
    std::fs::read_to_string(BINFMT_ENTRY)
        .map(|s| binfmt_enabled(&s))
        .unwrap_or(false)
}

fn binfmt_enabled(entry: &str) -> bool {
    entry.lines().next().map(str::trim) == Some("enabled")
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
            Some(t) => {
                format!(
                    "  {command} (Debian package {}{})\n",
                    t.package,
                    if t.backports { BPO_NOTE } else { "" }
                )
            }
            None => format!("  {command}\n"),
        };
    }
    msg + "run `cargo xtask doctor --fix`"
}

/// Prints the tool table; with `fix` (as root) installs what is missing and
/// registers binfmt. Errs while anything is still missing.
pub fn doctor(sh: &Shell, fix: bool) -> Result<()> {
    let statuses = probe(sh);
    println!("{}\n{}", render_table(&statuses), summary(&statuses));
    let missing: Vec<&'static Tool> = statuses
        .iter()
        .filter(|s| s.path.is_none())
        .map(|s| s.tool)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let codename = os_codename(sh);
    let has_source = has_backports_source(sh).unwrap_or(false);
    let root = is_root()?;
    if !fix || !root {
        let commands = fix_commands(&missing, codename.as_deref().unwrap_or(""), has_source);
        println!(
            "\nto fix, run{}:",
            if root { " as root" } else { " with sudo" }
        );
        for c in commands {
            println!("  {}", if root { c } else { with_sudo(&c) });
        }
        if fix {
            bail!("`cargo xtask doctor --fix` must run as root; run the commands above instead");
        }
        bail!(
            "{} host tools missing; run `cargo xtask doctor --fix` (as root)",
            missing.len()
        );
    }
    apply(sh, &fix_plan(&missing, &codename?, has_source))?;
    let statuses = probe(sh);
    println!("\n{}\n{}", render_table(&statuses), summary(&statuses));
    let still = statuses.iter().filter(|s| s.path.is_none()).count();
    if still > 0 {
        bail!("{still} host tools still missing after --fix");
    }
    Ok(())
}

/// What `--fix` does, as data: printed by `fix_commands`, executed by `apply`.
#[derive(Debug, PartialEq)]
struct FixPlan {
    add_backports_source: bool,
    apt: Vec<&'static str>,
    apt_backports: Vec<&'static str>,
    binfmt: bool,
}

fn fix_plan(missing: &[&Tool], codename: &str, has_backports_source: bool) -> FixPlan {
    let mut wanted: Vec<(&'static str, bool)> =
        missing.iter().map(|t| (t.package, t.backports)).collect();
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
    }
}

/// The root shell commands that fix `missing`, for humans to read or run.
fn fix_commands(missing: &[&Tool], codename: &str, has_backports_source: bool) -> Vec<String> {
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
        out.push(format!(
            "[ -e {BINFMT_REGISTER} ] || mount -t binfmt_misc binfmt_misc {BINFMT_DIR}"
        ));
        out.push(format!("if [ -x {SYSTEMD_BINFMT} ]; then {SYSTEMD_BINFMT} {BINFMT_CONF}; else grep ^: {BINFMT_CONF} > {BINFMT_REGISTER}; fi"));
        out.push("arch-test riscv64".to_string());
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
fn with_sudo(command: &str) -> String {
    if command.contains(|c| "<>|&;[=".contains(c)) {
        format!("sudo sh -c '{command}'")
    } else {
        format!("sudo {command}")
    }
}

fn apply(sh: &Shell, plan: &FixPlan) -> Result<()> {
    if plan.add_backports_source {
        sh.write_file(BACKPORTS_LIST, format!("{BACKPORTS_LINE}\n"))
            .with_context(|| format!("writing {BACKPORTS_LIST}"))?;
    }
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

/// Installing qemu-user-binfmt only registers the handler when systemd is
/// PID 1, which it is not on these hosts, so register it by hand.
fn register_binfmt(sh: &Shell) -> Result<()> {
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

fn os_codename(sh: &Shell) -> Result<String> {
    let text = sh
        .read_file("/etc/os-release")
        .context("reading /etc/os-release")?;
    os_release_codename(&text).context("no VERSION_CODENAME in /etc/os-release")
}

fn os_release_codename(text: &str) -> Option<String> {
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("VERSION_CODENAME="))?;
    Some(value.trim_matches(|c| c == '"' || c == '\'').to_string()).filter(|v| !v.is_empty())
}

/// apt reads only `*.list` and `*.sources` in sources.list.d, so disabled files don't count.
fn has_backports_source(sh: &Shell) -> Result<bool> {
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

pub fn is_root() -> Result<bool> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    Ok(effective_uid(&status).context("no Uid: line in /proc/self/status")? == 0)
}

/// `Uid:` lists real, effective, saved and filesystem uids; effective decides.
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn status_row(s: &ToolStatus) -> Vec<String> {
    let package = if s.tool.backports {
        format!("{} (backports)", s.tool.package)
    } else {
        s.tool.package.to_string()
    };
    let status = if s.path.is_some() { "ok" } else { "missing" };
    let version = s.version.clone().unwrap_or_else(|| "-".to_string());
    vec![
        s.tool.name.to_string(),
        status.to_string(),
        version,
        package,
        s.tool.purpose.to_string(),
    ]
}

fn render_table(statuses: &[ToolStatus]) -> String {
    let header = ["TOOL", "STATUS", "VERSION", "PACKAGE", "PURPOSE"]
        .map(String::from)
        .to_vec();
    let rows: Vec<Vec<String>> = std::iter::once(header)
        .chain(statuses.iter().map(status_row))
        .collect();
    format_table(&rows)
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn format_table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect();
    lines.join("\n")
}

fn summary(statuses: &[ToolStatus]) -> String {
    let missing: Vec<&str> = statuses
        .iter()
        .filter(|s| s.path.is_none())
        .map(|s| s.tool.name)
        .collect();
    if missing.is_empty() {
        format!("all {} host checks ok", statuses.len())
    } else {
        format!(
            "{} of {} host checks missing: {}",
            missing.len(),
            statuses.len(),
            missing.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(commands: &[&str]) -> Vec<&'static Tool> {
        commands
            .iter()
            .map(|c| {
                TOOLS
                    .iter()
                    .find(|t| t.command == *c || t.name == *c)
                    .expect(c)
            })
            .collect()
    }

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
                binfmt: true
            }
        );
        let cmds = fix_commands(&tools(&["binfmt riscv64"]), "bookworm", true);
        assert!(cmds[3].contains(SYSTEMD_BINFMT) && cmds[3].contains(BINFMT_REGISTER));
        assert_eq!(cmds.last().map(String::as_str), Some("arch-test riscv64"));
        assert!(fix_commands(&[], "bookworm", false).is_empty());
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
    fn parsers_for_host_files() {
        assert!(binfmt_enabled(
            "enabled\ninterpreter /usr/libexec/qemu-binfmt/riscv64-binfmt-P\n"
        ));
        assert!(!binfmt_enabled("disabled\nenabled\n") && !binfmt_enabled(""));
        assert_eq!(
            binfmt_rule("# comment\n\n:qemu-riscv64:M::\\x7f:\\xff:/q:OPF\n"),
            Some(":qemu-riscv64:M::\\x7f:\\xff:/q:OPF")
        );
        assert_eq!(
            os_release_codename("NAME=\"Debian\"\nVERSION_CODENAME=bookworm\n"),
            Some("bookworm".into())
        );
        assert_eq!(
            os_release_codename("VERSION_CODENAME=\"trixie\""),
            Some("trixie".into())
        );
        assert_eq!(os_release_codename("ID=debian\n"), None);
        assert_eq!(effective_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"), Some(0));
        assert!(mentions_backports(
            "Types: deb\nSuites: bookworm bookworm-backports\n"
        ));
        assert!(!mentions_backports(
            "# deb http://deb.debian.org/debian bookworm-backports main\n"
        ));
    }

    #[test]
    fn require_message_names_packages_and_the_fix() {
        let msg = require_message(&["mkfs.ext4", "qemu-img", "frobnicate"]);
        assert!(msg.contains("mkfs.ext4 (Debian package e2fsprogs)"));
        assert!(msg.contains("qemu-img (Debian package qemu-utils, from bookworm-backports"));
        assert!(msg.contains("  frobnicate\n") && msg.ends_with("run `cargo xtask doctor --fix`"));
    }

    #[test]
    fn table_columns_line_up() {
        let rows = vec![
            vec!["TOOL".into(), "STATUS".into(), "V".into()],
            vec!["qemu-img".into(), "missing".into(), "-".into()],
        ];
        assert_eq!(
            format_table(&rows),
            "TOOL      STATUS   V\nqemu-img  missing  -"
        );
        let statuses: Vec<ToolStatus> = TOOLS
            .iter()
            .map(|tool| ToolStatus {
                tool,
                path: None,
                version: None,
            })
            .collect();
        let table = render_table(&statuses);
        let col = table.lines().next().and_then(|l| l.find("STATUS")).unwrap();
        assert!(table.lines().skip(1).all(|l| &l[col..col + 7] == "missing"));
        assert_eq!(
            summary(&statuses[..2]),
            "2 of 2 host checks missing: mmdebstrap, debootstrap"
        );
    }

    #[test]
    fn tool_list_matches_the_project_needs() {
        let commands: Vec<&str> = TOOLS.iter().map(|t| t.command).collect();
        for c in [
            "mmdebstrap",
            "debootstrap",
            "qemu-system-riscv64",
            "qemu-riscv64",
            "qemu-img",
            "mkfs.ext4",
            "debugfs",
            "dumpe2fs",
            "zstd",
            "cpio",
            "xz",
            "arch-test",
            "unshare",
            "gpgv",
            "ssh",
            "make",
            "g++",
            "rsync",
            "wget",
            OPENSBI_FW,
            BINFMT_ENTRY,
        ] {
            assert!(commands.contains(&c), "{c} missing from TOOLS");
        }
        let from_backports = |t: &&Tool| {
            t.package.starts_with("qemu-")
                || t.package.ends_with("debstrap")
                || t.package == "debootstrap"
        };
        assert!(TOOLS.iter().all(|t| from_backports(&t) == t.backports));
        assert!(tools(&["debootstrap", "arch-test"])
            .iter()
            .all(|t| t.version_args.is_empty()));
    }
}
