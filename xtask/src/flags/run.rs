//! `cargo xtask run`'s flags, which `cosim` takes too.

use std::path::PathBuf;

/// Boot a built image in QEMU: an interactive console, or one command run headless
///
/// Without a command: the guest's console on this terminal (log in as root, no
/// password; quit with Ctrl-A X). With `-- CMD ARGS…`: boots, runs CMD in the guest
/// (as root, in /mnt/share), streams its stdout and stderr here, stops the guest
/// and exits with CMD's exit status. Examples:
///
///   cargo xtask run -- python3 /mnt/scripts/torch_check.py
///   cargo xtask run --share ~/data -- sh -c 'ls /mnt/share | wc -l'
///   cargo xtask run --ssh            (then `cargo xtask ssh` from another terminal)
///
/// In the guest: /mnt/scripts is the project's guest-scripts/ (read-only) and
/// /mnt/share the work share (--share; default: target/xtask/share). The guest's
/// disk writes go to a throw-away overlay: the image is unchanged afterwards
/// unless --persist is given.
///
/// Every run gets a folder, target/xtask/runs/TIME-IMAGE/ (runs/latest is the
/// newest; the last 50 are kept): boot.log (console and QEMU), run.json (QEMU's
/// command line, version and sha256, the exit status and times), warmup.log (the
/// boot that saved a warm snapshot). A headless run ends with one summary
/// line on stderr, e.g. `exit 0 in 10.9 s (boot 6.2 s, job 4.1 s); run folder: …`.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Run {
    /// Image name (default: the config's default_image).
    pub name: Option<String>,
    /// Command to run in the guest, headless; without it the run is interactive.
    #[arg(last = true)]
    pub command: Vec<String>,
    /// Keep the guest's changes to the disk image (default: discard them).
    #[arg(long)]
    pub persist: bool,
    /// Boot the whole rootfs from RAM (needs format "initramfs" in the image).
    #[arg(long, conflicts_with = "disk")]
    pub initramfs: bool,
    /// Boot from the disk image (default: when the image has one).
    #[arg(long)]
    pub disk: bool,
    /// `fast`: a minimal PID 1 runs the command (a few seconds); `full`: the image's
    /// own init (systemd) boots first (default: fast headless, full interactive).
    #[arg(long, value_enum)]
    pub boot: Option<BootKind>,
    /// Virtual CPUs, 1 to 512 (default: the image's run.smp).
    #[arg(long, value_parser = parse_smp)]
    pub smp: Option<u32>,
    /// Guest memory, at least 128M, e.g. 4G or 1536M (default: the image's run.memory).
    #[arg(long, value_parser = parse_memory)]
    pub memory: Option<u64>,
    /// Seconds the headless command may run, counted from its start in the guest
    /// (after the boot or the warm restore), before the guest is killed and the
    /// exit status is 124; 0 for no limit (default: 3600).
    #[arg(long, default_value_t = crate::run::defaults::TIMEOUT_SECS, hide_default_value = true)]
    pub timeout: u64,
    /// Seconds from QEMU's start until the guest starts the command (the boot, or
    /// a warm run's restore) before the guest is killed as hung, exit status 124;
    /// 0 for no limit (default: 600).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = crate::run::defaults::BOOT_TIMEOUT_SECS,
        hide_default_value = true
    )]
    pub boot_timeout: u64,
    /// Host directory shared read-write at /mnt/share (default: target/xtask/share).
    #[arg(long)]
    pub share: Option<PathBuf>,
    /// Leave the guest network unconfigured in a fast boot (the device stays).
    #[arg(long)]
    pub no_net: bool,
    /// Start sshd in the guest with the project's key, on a free 127.0.0.1 port
    /// (log in with `cargo xtask ssh`).
    #[arg(long)]
    pub ssh: bool,
    /// Forward 127.0.0.1:HOST on the host to GUEST in the guest (TCP), repeatable.
    #[arg(long = "forward", value_name = "HOST:GUEST")]
    pub forwards: Vec<crate::run::machine::Forward>,
    /// Environment variable for the headless command, repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    pub envs: Vec<(String, String)>,
    /// ACALSim co-simulation: add `-device virtio-sst-device,socket=PATH`
    /// (boots the project's QEMU, `cargo xtask qemu build`, unless --qemu is given).
    #[arg(long, value_name = "PATH")]
    pub sst_socket: Option<PathBuf>,
    /// The QEMU binary (default: the project's build, `cargo xtask qemu build`,
    /// for every run once there is one, else qemu-system-riscv64 on PATH).
    #[arg(long, env = crate::run::defaults::QEMU_ENV)]
    pub qemu: Option<PathBuf>,
    /// Attach FILE as an extra raw disk, written in place (/dev/vdb, /dev/vdc, …), repeatable.
    #[arg(long = "drive", value_name = "FILE")]
    pub drives: Vec<PathBuf>,
    /// Extra kernel command line arguments (appended last, so they win).
    #[arg(
        long,
        value_name = "ARGS",
        default_value = "",
        hide_default_value = true
    )]
    pub append: String,
    /// Also show the guest console of a headless run on stderr.
    #[arg(long)]
    pub console: bool,
    /// Start from a snapshot of the booted guest with the image's `warmup` modules
    /// (e.g. torch) imported: the first warm run boots and saves it, later ones restore it
    /// in under a second and run a Python job in the waiting interpreter (`-v` prints
    /// where the time went). Needs the
    /// project's QEMU 10.2 (`cargo xtask qemu build`); see `cargo xtask snapshots`.
    #[arg(long, conflicts_with_all = ["persist", "drives"])]
    pub warm: bool,
    /// Print the closing summary as JSON (run.json's content) on stdout, as
    /// the last line after the command's own output, instead of the summary line.
    #[arg(long)]
    pub json: bool,
}

/// Refuses a command line that ends in `--` with no command after it
/// (clap reads that as an interactive run), saying how to do either.
pub fn require_command_after_dashes(
    subcommand: &str,
    args: &[std::ffi::OsString],
    command: &[String],
) -> Result<(), String> {
    if command.is_empty() && args.last().is_some_and(|a| a == "--") {
        return Err(format!(
            "`{subcommand} --` has no command after `--`.\n  \
             to run one:   cargo xtask {subcommand} -- python3 /mnt/scripts/torch_check.py\n  \
             leave out `--` for the interactive console:   cargo xtask {subcommand} [IMAGE]"
        ));
    }
    Ok(())
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootKind {
    Fast,
    Full,
}

/// Guest memory in MiB, with the config's `run.memory` rules.
pub fn parse_memory(s: &str) -> Result<u64, String> {
    crate::config::memory_mib(s)
}

/// A vCPU count, with the config's `run.smp` rules.
pub fn parse_smp(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|_| {
        format!(
            "`{s}` is not a number of virtual CPUs (1 to {})",
            crate::config::MAX_SMP
        )
    })?;
    crate::config::check_smp(n)
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{name}` is not a variable name (letters, digits, '_')"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashes_with_nothing_after_them_are_refused() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        let e =
            require_command_after_dashes("run", &args(&["xtask", "run", "--"]), &[]).unwrap_err();
        assert!(
            e.contains("no command after `--`") && e.contains("cargo xtask run [IMAGE]"),
            "{e}"
        );
        assert!(require_command_after_dashes("run", &args(&["xtask", "run"]), &[]).is_ok());
        let cmd = ["--".to_string()];
        assert!(
            require_command_after_dashes("run", &args(&["xtask", "run", "--", "--"]), &cmd).is_ok()
        );
    }
}
