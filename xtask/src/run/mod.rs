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
mod forward;
pub mod machine;
pub mod phases;
mod preflight;
mod report;
pub use report::{Finished, EXIT_TIMEOUT};
mod request;
mod session;
mod signals;
mod supervise;
mod warm;

use std::process::Command;
use std::time::Instant;

use anyhow::Result;
use xshell::cmd;

use crate::project::Project;
pub use preflight::{has_sst_device, BuiltImage, ChosenQemu};
pub use request::Request;
use session::{Session, Sockets};
pub use supervise::StdoutSink;
use supervise::Streams;
pub use supervise::{die_with_us, Signals, Watch};

/// Boots the image `request` names and supervises QEMU until it exits;
/// returns the exit status for this process (the guest command's, for a job).
pub fn run(project: &Project, request: &Request, stdout_sink: Option<StdoutSink>) -> Result<i32> {
    run_watched(project, request, stdout_sink, None)
}

/// [`run`], also stopping the guest [`supervise::COMPANION_GRACE`] after `watch` says
/// the process the run depends on has ended.
pub fn run_watched(
    project: &Project,
    request: &Request,
    stdout_sink: Option<StdoutSink>,
    watch: Option<Watch>,
) -> Result<i32> {
    run_finished(project, request, stdout_sink, watch).map(|f| f.status)
}

/// [`run_watched`], returning how the run ended as data.
pub fn run_finished(
    project: &Project,
    request: &Request,
    stdout_sink: Option<StdoutSink>,
    watch: Option<Watch>,
) -> Result<Finished> {
    // A sweep's points run in one long-lived process: their runs start at
    // the call, not at the process's start.
    let timeline = phases::Timeline::start(!request.quiet);
    let image = preflight::built_image(project, request.image.as_deref())?;
    let chosen = preflight::choose_qemu(project, request)?;
    if let Some(socket) = &request.sst_socket {
        preflight::require_sst_device(project, &chosen, socket)?;
    }
    if request.warm {
        timeline.mark("preflight");
        return warm::run(
            project,
            request,
            &image,
            &chosen,
            timeline,
            stdout_sink,
            watch,
        );
    }
    let session = Session::open(project, &image.name, request)?;
    let sockets = Sockets::bind(session.dir(), request.is_job())?;
    let options = session.machine_options(request, &chosen.path, &sockets)?;
    let machine = machine::plan(&image.manifest, &image.dir, &options)?;

    let (q, args) = (&machine.qemu, argv::argv(&machine));
    let qemu = cmd!(project.sh, "{q} {args...}");
    let shown = qemu.to_string();
    let (log_path, log) =
        report::start_boot_log(project, request, &image.name, &chosen.description, &shown)?;
    if project.verbose {
        eprintln!("$ {shown}");
    }
    if let Some(port) = session.ssh_port() {
        eprintln!("ssh: `cargo xtask ssh {}` (127.0.0.1:{port})", image.name);
    }

    let signals = Signals::register()?;
    let started = Instant::now();
    let mut command: Command = qemu.into();
    command.current_dir(&project.root);
    let outcome = if request.is_job() {
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
        supervise::headless(
            command,
            streams,
            request.timeout,
            &signals,
            &session.job_dir,
        )
    } else {
        supervise::interactive(command, &signals, watch)
    };
    let elapsed = started.elapsed();
    drop(session);
    let status = report::exit_status(project, request, outcome?, elapsed, &log_path)?;
    Ok(Finished {
        status,
        restore_secs: None,
    })
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
pub fn check(project: &Project, request: &Request) -> Result<()> {
    preflight::built_image(project, request.image.as_deref())?;
    let chosen = preflight::choose_qemu(project, request)?;
    if let Some(socket) = &request.sst_socket {
        preflight::require_sst_device(project, &chosen, socket)?;
    }
    Ok(())
}
