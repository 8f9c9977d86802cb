//! `cargo xtask cosim`: one co-simulation session, the SST side and the
//! guest started in order and ended together.
//!
//! [`run`] reads as its steps: the [`Settings`] (flags over the `[cosim]`
//! table, plain data) and `run`'s own checks come first, before anything
//! starts; then the session's socket ([`socket`]), the SST side started
//! and watched until it listens ([`sst_side`], [`listening`]), the guest
//! booted through `run` with the device on that socket and the SST side
//! watched, and last the SST side stopped. Every way out drops the SST
//! side (stopping it) and then the socket (removing it).

mod listening;
mod readiness;
pub mod ready;
mod socket;
mod sst_side;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::config::Cosim as CosimTable;
use crate::flags;
use crate::project::Project;
use crate::run::{self, Request, Signals};
use crate::sst::record::Built as BuiltSst;
use socket::SessionSocket;
use sst_side::{built_sst_env, describe, launch_of_shell_command, Launch, SstSide, Waited};

/// What one session runs, from the flags and the `[cosim]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The SST side as a shell command; `None`: the reference peer.
    pub sst: Option<String>,
    pub sst_dir: PathBuf,
    /// A fixed socket path; `None`: a fresh one.
    pub socket: Option<PathBuf>,
    pub listen_timeout: Duration,
    pub cycles_per_unit: u64,
}

impl Settings {
    /// Flags win over the table; relative directories are from the project root.
    pub fn new(flags: &flags::Cosim, table: &CosimTable, root: &Path) -> Settings {
        Settings {
            sst: flags.sst.clone().or_else(|| table.sst.clone()),
            sst_dir: match flags.sst_dir.clone().or_else(|| table.sst_dir.clone()) {
                Some(dir) => root.join(dir),
                None => root.to_path_buf(),
            },
            socket: flags.socket.clone().or_else(|| table.socket.clone()),
            listen_timeout: flags
                .listen_timeout
                .map_or(table.listen_timeout, Duration::from_secs),
            cycles_per_unit: flags.cycles_per_unit,
        }
    }

    /// The SST side's command line for a session on `socket`.
    /// The SST side's command line for a session on `socket`; `built` is
    /// `cargo xtask sst build`'s SST, put first on the command's paths.
    pub fn launch(
        &self,
        socket: &Path,
        xtask: &Path,
        peer_log: &Path,
        built: Option<&BuiltSst>,
    ) -> Launch {
        match &self.sst {
            Some(command) => {
                let mut launch = launch_of_shell_command(command, &self.sst_dir, socket);
                if let Some(b) = built {
                    let var = |k: &str| std::env::var(k).ok();
                    launch.env = built_sst_env(
                        &b.bin_dir(),
                        &b.elements,
                        var("PATH").as_deref(),
                        var("SST_LIB_PATH").as_deref(),
                    );
                }
                launch
            }
            None => {
                let argv: Vec<String> = [
                    xtask.to_string_lossy().into_owned(),
                    "sst".into(),
                    "peer".into(),
                    "--socket".into(),
                    socket.to_string_lossy().into_owned(),
                    "--cycles-per-unit".into(),
                    self.cycles_per_unit.to_string(),
                    "--log".into(),
                    peer_log.to_string_lossy().into_owned(),
                ]
                .into();
                Launch {
                    shown: shell_words(&argv),
                    argv,
                    dir: self.sst_dir.clone(),
                    socket: socket.to_path_buf(),
                    env: Vec::new(),
                }
            }
        }
    }
}

/// Runs one session; the exit status is the guest command's, after the
/// session's summary (a line on stderr, or JSON on stdout).
pub fn run(project: &Project, flags: &flags::Cosim) -> Result<i32> {
    if let Some(s) = &flags.run.sst_socket {
        bail!(
            "--sst-socket {}: `cosim` picks the socket itself and hands it to the SST side; \
             to fix the path (an SST config that hard-codes it) use --socket PATH",
            s.display()
        );
    }
    let config = project.config()?;
    let settings = Settings::new(flags, &config.cosim, &project.root);
    let mut request = Request::from(&flags.run);
    request.image = request.image.or_else(|| config.cosim.image.clone());
    let ended = session(project, &settings, &request, None)?;
    if let (Some(_), true) = (&ended.guest, request.is_job()) {
        run::print_summary(project, &request, &run::summary::read(&ended.folder)?)?;
    }
    Ok(ended.status)
}

/// How a session ended.
pub struct Ended {
    /// The guest command's exit status (128 + signal when interrupted).
    pub status: i32,
    /// The guest's run; `None` when the session was interrupted before it booted.
    pub guest: Option<run::Finished>,
    /// The session's folder: the logs of both sides and run.json.
    pub folder: PathBuf,
}

/// One session as a library call: `request`'s guest (its socket is the
/// session's) with the SST side `settings` name, their logs and record in
/// `request.folder` (else a new run folder).
pub fn session(
    project: &Project,
    settings: &Settings,
    request: &Request,
    stdout_sink: Option<run::StdoutSink>,
) -> Result<Ended> {
    if !settings.sst_dir.is_dir() {
        bail!(
            "--sst-dir {}: no such directory",
            settings.sst_dir.display()
        );
    }
    let mut request = request.clone();
    request.sst_socket = Some(settings.socket.clone().unwrap_or_else(|| "SOCKET".into()));
    let image = run::check(project, &request)?;

    let socket = match &settings.socket {
        Some(path) => SessionSocket::fixed(project, path)?,
        None => SessionSocket::private()?,
    };
    request.sst_socket = Some(socket.path.clone());
    let own_folder = request.folder.is_none();
    let folder = match &request.folder {
        Some(dir) => dir.clone(),
        None => run::folder::create(&run::folder::runs_dir(&project.xtask_dir()), &image.name)?,
    };
    request.folder = Some(folder.clone());
    let ended = guest_and_sst_side(project, settings, &request, &socket.path, stdout_sink);
    if own_folder {
        run::folder::close(&folder);
    }
    let (status, guest) = ended?;
    Ok(Ended {
        status,
        guest,
        folder,
    })
}

/// The SST side started and listening, the guest run beside it, and the
/// SST side stopped; recorded in the session's folder.
fn guest_and_sst_side(
    project: &Project,
    settings: &Settings,
    request: &Request,
    socket: &Path,
    stdout_sink: Option<run::StdoutSink>,
) -> Result<(i32, Option<run::Finished>)> {
    let folder = request.folder.as_deref().context("the session's folder")?;
    let signals = Signals::register()?;
    let mut sst = start_sst_side(project, settings, socket, folder, request.quiet)?;
    match sst.wait_listening(settings.listen_timeout, &signals)? {
        Waited::Interrupted(signal) => {
            eprintln!("interrupted while the SST side was starting; it was stopped");
            return Ok((128 + signal, None));
        }
        Waited::Listening(after) if !request.quiet => eprintln!(
            "cosim: the SST side listens on {} ({:.1}s); booting the guest",
            socket.display(),
            after.as_secs_f64()
        ),
        Waited::Listening(_) => {}
    }
    let guest = run::run_finished(project, request, stdout_sink, Some(sst.watch()));
    let died_first = sst.exited();
    let stopped = sst.stop();
    let ended = match (&died_first, &stopped) {
        (Some(status), _) | (None, Ok(status)) => describe(*status),
        (None, Err(e)) => format!("not stopped: {e:#}"),
    };
    if guest.is_ok() {
        record_sst_side(folder, &sst, settings, ended)?;
    }
    let guest = finish(
        &sst,
        guest.map(|g| g.finished),
        died_first,
        stopped,
        request.quiet,
    )?;
    Ok((guest.status, Some(guest)))
}

/// Adds the SST side to the session's run.json: its command, how it
/// ended, and for the reference peer the COMPUTEs it answered.
fn record_sst_side(folder: &Path, sst: &SstSide, settings: &Settings, ended: String) -> Result<()> {
    let mut record = run::summary::read(folder)?;
    let totals = match settings.sst {
        None => {
            let log = folder.join(run::folder::PEER_LOG);
            let text = std::fs::read_to_string(&log)
                .with_context(|| format!("reading {}", log.display()))?;
            Some(crate::sst::peer::compute_totals(&text))
        }
        Some(_) => None,
    };
    record.sst = Some(run::summary::SstSide {
        command: sst.launch.argv.clone(),
        dir: sst.launch.dir.clone(),
        ended,
        computes: totals.map(|t| t.0),
        cycles: totals.map(|t| t.1),
    });
    run::summary::write(folder, &record)
}

/// `argv` as one shell command line, each word quoted where the shell needs it.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_./=:,+@%-".contains(c));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Starts the SST side with its log (and the reference peer's) in `logs`.
fn start_sst_side(
    project: &Project,
    settings: &Settings,
    socket: &Path,
    logs: &Path,
    quiet: bool,
) -> Result<SstSide> {
    std::fs::create_dir_all(logs).with_context(|| format!("creating {}", logs.display()))?;
    let xtask = std::env::current_exe().context("finding this program (for `sst peer`)")?;
    let built = crate::sst::record::current(project)?;
    let launch = settings.launch(
        socket,
        &xtask,
        &logs.join(run::folder::PEER_LOG),
        built.as_ref(),
    );
    if let (Some(b), Some(_), false) = (&built, &settings.sst, quiet) {
        eprintln!(
            "cosim: SST from `cargo xtask sst build` first on PATH ({}) and SST_LIB_PATH ({})",
            b.bin_dir().display(),
            b.elements.display()
        );
    }
    let sst = SstSide::start(&launch, &logs.join(run::folder::SST_LOG))?;
    if !quiet {
        eprintln!(
            "cosim: started the SST side (pid {}) in {}:\n  {}\ncosim: its output goes to {}",
            sst.pid,
            launch.dir.display(),
            launch.shown,
            sst.log.display()
        );
        if settings.sst.is_none() {
            eprintln!(
                "cosim: the peer's requests go to {}",
                logs.join(run::folder::PEER_LOG).display()
            );
        }
    }
    Ok(sst)
}

/// The session's exit status: the guest's, unless the SST side ended
/// before the guest did, which is an error naming how and its log.
fn finish(
    sst: &SstSide,
    guest: Result<run::Finished>,
    died_first: Option<std::process::ExitStatus>,
    stopped: Result<std::process::ExitStatus>,
    quiet: bool,
) -> Result<run::Finished> {
    if let Some(status) = died_first {
        let guest = match &guest {
            Ok(f) => format!("the guest's exit status was {}", f.status),
            Err(e) => format!("the guest run failed: {e:#}"),
        };
        bail!(
            "the SST side `{}` {} while the guest was running ({guest}); its last lines:\n{}\n(log: {})",
            sst.launch.shown,
            describe(status),
            sst.log_tail(),
            sst.log.display()
        );
    }
    let guest = guest?;
    match stopped {
        Ok(_) if quiet => {}
        Ok(status) => eprintln!("cosim: the SST side stopped ({})", describe(status)),
        Err(e) => eprintln!("warning: stopping the SST side: {e:#}"),
    }
    Ok(guest)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::config::cosim::DEFAULT_LISTEN_TIMEOUT_SECS;

    fn cosim_flags(args: &[&str]) -> flags::Cosim {
        let argv = ["cargo xtask", "cosim"].iter().chain(args);
        match flags::Xtask::parse_from(argv).command {
            flags::Command::Cosim(c) => c,
            other => panic!("parsed as {other:?}"),
        }
    }

    fn table() -> CosimTable {
        CosimTable {
            image: None,
            sst: Some("sst linux_basic.py".into()),
            sst_dir: Some("sst-config".into()),
            socket: Some("/tmp/qemu-sst-linux.sock".into()),
            listen_timeout: Duration::from_secs(DEFAULT_LISTEN_TIMEOUT_SECS),
            sst_core: None,
        }
    }

    #[test]
    fn flags_win_over_the_table_and_directories_are_from_the_root() {
        let root = Path::new("/p");
        let s = Settings::new(&cosim_flags(&["cosim", "--", "true"]), &table(), root);
        assert_eq!(s.sst.as_deref(), Some("sst linux_basic.py"));
        assert_eq!(s.sst_dir, Path::new("/p/sst-config"));
        assert_eq!(
            s.socket.as_deref(),
            Some(Path::new("/tmp/qemu-sst-linux.sock"))
        );
        assert_eq!(s.listen_timeout, Duration::from_secs(60));
        let f = cosim_flags(&[
            "--sst",
            "x",
            "--sst-dir",
            "/abs",
            "--listen-timeout",
            "3",
            "--",
            "true",
        ]);
        assert_eq!(f.run.command, ["true"]);
        let s = Settings::new(&f, &table(), root);
        assert_eq!(
            (s.sst.as_deref(), s.sst_dir.as_path()),
            (Some("x"), Path::new("/abs"))
        );
        assert_eq!(s.listen_timeout, Duration::from_secs(3));
    }

    #[test]
    fn without_sst_the_reference_peer_is_started_on_the_sessions_socket() {
        let empty = CosimTable {
            sst: None,
            sst_dir: None,
            socket: None,
            ..table()
        };
        let s = Settings::new(
            &cosim_flags(&["--cycles-per-unit", "7"]),
            &empty,
            Path::new("/p"),
        );
        let l = s.launch(
            Path::new("/tmp/r/sst.sock"),
            Path::new("/x/xtask"),
            Path::new("/l/p.jsonl"),
            None,
        );
        assert_eq!(
            l.argv,
            [
                "/x/xtask",
                "sst",
                "peer",
                "--socket",
                "/tmp/r/sst.sock",
                "--cycles-per-unit",
                "7",
                "--log",
                "/l/p.jsonl"
            ]
        );
        assert_eq!(l.dir, Path::new("/p"));
    }
}
