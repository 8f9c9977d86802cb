//! `cargo xtask run`: boot a built image and supervise QEMU, as a library
//! other commands call too.
//!
//! [`run`] reads as its steps: the [`Request`] (plain data; the CLI builds
//! one from its flags) is checked by `preflight`; a [`Session`] takes what
//! the run holds on the host (image lock, run directory, job files, sockets,
//! ssh record); [`machine::plan`] and [`argv::argv`] make QEMU's command line
//! without touching anything; `supervise` runs QEMU as a child that dies with
//! us and forwards a headless job's streams; the [`Outcome`] becomes the exit
//! status, and `explain` says why a job reported none. Every way out of
//! [`run`] drops the session, its teardown, so no socket, job file or lock
//! outlives the command.

pub mod argv;
pub mod defaults;
mod explain;
#[cfg(test)]
pub mod fixtures;
pub mod folder;
mod forward;
pub mod machine;
pub mod phases;
mod preflight;
mod report;
pub use report::{Finished, BOOT_TIMEOUT, EXIT_TIMEOUT};
mod request;
mod session;
mod signals;
pub mod summary;
mod supervise;
mod warm;

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::cmd;

use crate::project::Project;
pub use preflight::{has_sst_device, BuiltImage, ChosenQemu};
pub use request::Request;
use session::{Session, Sockets};
pub use supervise::StdoutSink;
pub use supervise::{die_with_us, Signals, Watch};
use supervise::{Limits, Streams};

/// Boots the image `request` names and supervises QEMU until it exits;
/// returns the exit status for this process (the guest command's, for a
/// job), after a headless run's summary (a line on stderr, or JSON on stdout).
pub fn run(project: &Project, request: &Request, stdout_sink: Option<StdoutSink>) -> Result<i32> {
    let finished = run_finished(project, request, stdout_sink, None)?;
    if request.is_job() {
        print_summary(project, request, &summary::read(&finished.folder)?)?;
    }
    Ok(finished.status)
}

/// A headless run's closing summary: one line on stderr, or with
/// `request.json` the record as one JSON line on stdout, after the
/// command's own output.
pub fn print_summary(project: &Project, request: &Request, record: &summary::Record) -> Result<()> {
    if request.json {
        let text = serde_json::to_string(record).context("serializing the run's record")?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").context("writing the summary to stdout")?;
    } else if !request.quiet {
        eprintln!("{}", summary::line(record, &project.root));
    }
    Ok(())
}

/// Boots and supervises as [`run`] does, also stopping the guest
/// [`supervise::COMPANION_GRACE`] after `watch` says the process the run
/// depends on has ended; returns how the run ended, recorded in its folder
/// (`request.folder`, else a new one in target/xtask/runs/).
pub fn run_finished(
    project: &Project,
    request: &Request,
    stdout_sink: Option<StdoutSink>,
    watch: Option<Watch>,
) -> Result<RunEnded> {
    // A sweep's points run in one long-lived process: their runs start at
    // the call, not at the process's start.
    let timeline = phases::Timeline::start(!request.quiet);
    let called = Instant::now();
    let image = preflight::built_image(project, request.image.as_deref())?;
    let chosen = preflight::choose_qemu(project, request)?;
    if let Some(socket) = &request.sst_socket {
        preflight::require_sst_device(project, &chosen, socket)?;
    }
    let (folder, own_folder) = match &request.folder {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            (dir.clone(), false)
        }
        None => (
            folder::create(&folder::runs_dir(&project.xtask_dir()), &image.name)?,
            true,
        ),
    };
    let mut request = request.clone();
    request.folder = Some(folder.clone());
    let ended = if request.warm {
        timeline.mark("preflight");
        warm::run(
            project,
            &request,
            &image,
            &chosen,
            timeline,
            stdout_sink,
            watch,
        )
    } else {
        cold(project, &request, &image, &chosen, stdout_sink, watch)
    };
    let recorded = report::end_record(&folder, request.warm, &ended, called.elapsed());
    if own_folder {
        folder::close(&folder);
    }
    let finished = ended?;
    recorded?;
    Ok(RunEnded { finished, folder })
}

/// How a run ended, and its folder.
pub struct RunEnded {
    pub finished: Finished,
    /// The run's folder: boot log, run.json.
    pub folder: std::path::PathBuf,
}

impl std::ops::Deref for RunEnded {
    type Target = Finished;
    fn deref(&self) -> &Finished {
        &self.finished
    }
}

/// A cold boot of `image` that runs the request (or the console).
fn cold(
    project: &Project,
    request: &Request,
    image: &BuiltImage,
    chosen: &ChosenQemu,
    stdout_sink: Option<StdoutSink>,
    watch: Option<Watch>,
) -> Result<Finished> {
    let folder = request.folder.as_deref().context("the run's folder")?;
    let session = Session::open(project, &image.name, request)?;
    let sockets = Sockets::bind(session.dir(), request.is_job())?;
    let options = session.machine_options(request, &chosen.path, &sockets)?;
    let machine = machine::plan(&image.manifest, &image.dir, &options)?;

    let (q, args) = (&machine.qemu, argv::argv(&machine));
    let qemu = cmd!(project.sh, "{q} {args...}");
    let shown = qemu.to_string();
    let (log_path, log) = report::start_boot_log(
        folder,
        folder::BOOT_LOG,
        request,
        &image.name,
        chosen,
        &shown,
    )?;
    if project.verbose {
        eprintln!("$ {shown}");
    }
    if let Some(port) = session.ssh_port() {
        eprintln!("ssh: `cargo xtask ssh {}` (127.0.0.1:{port})", image.name);
    }

    let signals = Signals::register()?;
    let mut command: Command = qemu.into();
    command.current_dir(&project.root);
    let ended = if request.is_job() {
        let streams = Streams {
            sockets,
            log,
            show_console: request.show_console,
            stdout_sink,
            watch,
            handshake: None,
            expect_status: true,
            stop_at_status: !request.persist && request.drives.is_empty(),
            timeline: None,
        };
        let limits = Limits {
            boot: request.boot_timeout,
            job: request.timeout,
        };
        supervise::headless(command, streams, limits, &signals, &session.job_dir)?
    } else {
        let outcome = supervise::interactive(command, &signals, watch)?;
        supervise::Headless {
            outcome,
            boot: None,
            job: None,
        }
    };
    drop(session);
    report::finished(request, ended, &log_path)
}

/// A private directory for what a session keeps beside a run (a
/// co-simulation's socket): `$TMPDIR/acalsim-run-XXXXXX` with our pid,
/// removed when dropped, or by a later run if we are SIGKILLed.
pub fn private_dir() -> Result<tempfile::TempDir> {
    session::remove_stale_run_dirs();
    session::create_run_dir()
}

/// The built image and the QEMU `request` would boot, named as a run's
/// record names them (a sweep's provenance).
pub fn inputs(project: &Project, request: &Request) -> Result<(BuiltImage, ChosenQemu)> {
    let image = preflight::built_image(project, request.image.as_deref())?;
    let qemu = preflight::choose_qemu(project, request)?;
    Ok((image, qemu))
}

/// The QEMU `request` would boot (the bench names it in its header).
pub fn chosen_qemu(project: &Project, request: &Request) -> Result<ChosenQemu> {
    preflight::choose_qemu(project, request)
}

/// Checks `run` would make before it starts anything: the image is built,
/// and its QEMU has the SST device when a socket is asked for.
/// Returns the image.
pub fn check(project: &Project, request: &Request) -> Result<BuiltImage> {
    let image = preflight::built_image(project, request.image.as_deref())?;
    let chosen = preflight::choose_qemu(project, request)?;
    if let Some(socket) = &request.sst_socket {
        preflight::require_sst_device(project, &chosen, socket)?;
    }
    Ok(image)
}
