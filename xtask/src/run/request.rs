//! What a caller asks of `run`, as plain data: [`Request`].
//!
//! The CLI builds one from its flags ([`Request::from`] a `&flags::Run`);
//! other commands (`pytorch build`, later co-simulation sessions) fill in
//! the fields they care about and take the rest from [`Request::default`],
//! which is what `cargo xtask run` does without options.

use std::path::PathBuf;
use std::time::Duration;

use super::defaults;
use super::machine::{Boot, Forward, Mode};
use crate::flags::{self, BootKind};

/// One boot of a built image: interactive without a command, else headless.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The image; `None`: the config's `default_image`.
    pub image: Option<String>,
    /// The command run in the guest, argv as given; empty: an interactive run.
    pub command: Vec<String>,
    /// Extra environment of the command.
    pub envs: Vec<(String, String)>,
    /// Keep the guest's writes to the disk image.
    pub persist: bool,
    /// `None`: disk if the image has one, else initramfs.
    pub mode: Option<Mode>,
    /// `None`: the fast boot for a command, the full boot for an interactive run.
    pub boot: Option<Boot>,
    /// `None`: the image's `run.smp`.
    pub smp: Option<u32>,
    /// `None`: the image's `run.memory`.
    pub memory_mib: Option<u64>,
    /// How long a headless command may run, from its start in the guest;
    /// `None`: no limit.
    pub timeout: Option<Duration>,
    /// How long the guest may take from QEMU's start to starting the
    /// command (the boot, or a warm run's restore); `None`: no limit.
    pub boot_timeout: Option<Duration>,
    /// The work share at /mnt/share; `None`: target/xtask/share.
    pub share: Option<PathBuf>,
    /// Configure the guest network (the device is always there).
    pub net: bool,
    /// Start sshd in the guest on a free forwarded port.
    pub ssh: bool,
    pub forwards: Vec<Forward>,
    /// Extra raw disks, written in place: /dev/vdb, /dev/vdc, …
    pub drives: Vec<PathBuf>,
    /// ACALSim co-simulation: the socket of `-device virtio-sst-device`.
    pub sst_socket: Option<PathBuf>,
    /// `None`: the project's QEMU (`cargo xtask qemu build`) when one is
    /// built, else `qemu-system-riscv64`.
    pub qemu: Option<PathBuf>,
    /// Extra kernel arguments, appended last so they win.
    pub append: Vec<String>,
    /// Also copy a headless run's console to stderr.
    pub show_console: bool,
    /// Start from the image's warm-start snapshot (made by the first such run).
    pub warm: bool,
    /// The run's folder (boot log, run.json); `None`: a new one in
    /// target/xtask/runs/.
    pub folder: Option<PathBuf>,
    /// Say nothing on stderr about a run that went as asked (a sweep's
    /// points, whose records say it); errors are still returned.
    pub quiet: bool,
    /// End with the summary as JSON on stdout rather than a line on stderr.
    pub json: bool,
}

impl Default for Request {
    /// What `cargo xtask run` does without options.
    fn default() -> Request {
        Request {
            image: None,
            command: vec![],
            envs: vec![],
            persist: false,
            mode: None,
            boot: None,
            smp: None,
            memory_mib: None,
            timeout: Some(Duration::from_secs(defaults::TIMEOUT_SECS)),
            boot_timeout: Some(Duration::from_secs(defaults::BOOT_TIMEOUT_SECS)),
            share: None,
            net: true,
            ssh: false,
            forwards: vec![],
            drives: vec![],
            sst_socket: None,
            qemu: defaults::qemu(),
            append: vec![],
            show_console: false,
            warm: false,
            folder: None,
            quiet: false,
            json: false,
        }
    }
}

impl Request {
    /// A command to run headless rather than an interactive console.
    pub fn is_job(&self) -> bool {
        !self.command.is_empty()
    }

    /// The boot asked for, else the fast boot for a job (seconds sooner) and
    /// the image's own init for an interactive run.
    pub fn boot_or_default(&self) -> Boot {
        match self.boot {
            Some(boot) => boot,
            None if self.is_job() => Boot::Fast,
            None => Boot::Full,
        }
    }
}

impl From<&flags::Run> for Request {
    fn from(f: &flags::Run) -> Request {
        let mode = if f.initramfs {
            Some(Mode::Initramfs)
        } else if f.disk {
            Some(Mode::Disk)
        } else {
            None
        };
        Request {
            image: f.name.clone(),
            command: f.command.clone(),
            envs: f.envs.clone(),
            persist: f.persist,
            mode,
            boot: f.boot.map(|kind| match kind {
                BootKind::Fast => Boot::Fast,
                BootKind::Full => Boot::Full,
            }),
            smp: f.smp,
            memory_mib: f.memory,
            timeout: (f.timeout > 0).then(|| Duration::from_secs(f.timeout)),
            boot_timeout: (f.boot_timeout > 0).then(|| Duration::from_secs(f.boot_timeout)),
            share: f.share.clone(),
            net: !f.no_net,
            ssh: f.ssh,
            forwards: f.forwards.clone(),
            drives: f.drives.clone(),
            sst_socket: f.sst_socket.clone(),
            qemu: f.qemu.clone(),
            append: f.append.split_whitespace().map(String::from).collect(),
            show_console: f.console,
            warm: f.warm,
            folder: None,
            quiet: false,
            json: f.json,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parsed(args: &[&str]) -> Request {
        let cli = flags::Xtask::try_parse_from(["cargo xtask", "run"].iter().chain(args))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        match cli.command {
            flags::Command::Run(run) => Request::from(&run),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bare_cli_run_is_the_default_request() {
        // The QEMU default is read from the environment by both; compare the rest.
        assert_eq!(parsed(&[]), Request::default());
    }

    #[test]
    fn cli_flags_land_in_their_request_fields() {
        let r = parsed(&[
            "img",
            "--initramfs",
            "--boot",
            "full",
            "--timeout",
            "0",
            "--no-net",
            "--memory",
            "1536M",
            "--append",
            " loglevel=7  quiet ",
            "--forward",
            "8080:80",
            "--env",
            "A=b c",
            "--",
            "sh",
            "-c",
            "true",
        ]);
        assert_eq!(r.image.as_deref(), Some("img"));
        assert_eq!(r.command, ["sh", "-c", "true"]);
        assert!(r.is_job());
        assert_eq!((r.mode, r.boot), (Some(Mode::Initramfs), Some(Boot::Full)));
        assert_eq!((r.timeout, r.net, r.memory_mib), (None, false, Some(1536)));
        assert_eq!(r.append, ["loglevel=7", "quiet"]);
        assert_eq!(
            r.forwards,
            [Forward {
                host: 8080,
                guest: 80
            }]
        );
        assert_eq!(r.envs, [("A".to_string(), "b c".to_string())]);
        assert_eq!(parsed(&["--disk"]).mode, Some(Mode::Disk));
    }

    #[test]
    fn run_help_shows_one_example_per_line() {
        use clap::CommandFactory;
        let mut cli = flags::Xtask::command();
        let help = cli
            .find_subcommand_mut("run")
            .expect("a run subcommand")
            .render_long_help()
            .to_string();
        let examples: Vec<&str> = help
            .lines()
            .filter(|l| l.trim_start().starts_with("cargo xtask run "))
            .collect();
        assert_eq!(examples.len(), 3, "{help}");
        assert!(
            examples.iter().all(|l| l.starts_with("  cargo xtask run ")),
            "{help}"
        );
    }

    #[test]
    fn a_job_boots_fast_and_an_interactive_run_fully_unless_asked() {
        let job = Request {
            command: vec!["true".into()],
            ..Request::default()
        };
        assert_eq!(job.boot_or_default(), Boot::Fast);
        assert_eq!(Request::default().boot_or_default(), Boot::Full);
        let full_job = Request {
            boot: Some(Boot::Full),
            ..job
        };
        assert_eq!(full_job.boot_or_default(), Boot::Full);
    }
}
