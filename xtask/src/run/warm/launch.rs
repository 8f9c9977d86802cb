//! What every QEMU of a warm run shares ([`Warm`]), its machine and
//! sockets ([`Launch`], made by [`prepare`] in `session/qemu-N/`), and
//! [`launch`], which starts and supervises one as a headless cold run is.

use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, Result};
use xshell::cmd;

use super::control;
use crate::project::Project;
use crate::run::machine::{self, Machine};
use crate::run::phases::Timeline;
use crate::run::preflight::{BuiltImage, ChosenQemu};
use crate::run::request::Request;
use crate::run::session::{Session, Sockets};
use crate::run::supervise::{
    self, Handshake, Headless, Limits, Signals, StdoutSink, Streams, Watch,
};
use crate::run::{argv, report};

/// What every QEMU of one warm run shares.
pub struct Warm<'a> {
    pub project: &'a Project,
    pub request: &'a Request,
    pub image: &'a BuiltImage,
    pub qemu: &'a ChosenQemu,
    pub session: Session,
    pub signals: Signals,
    pub warmup: Vec<String>,
    /// Where this run's time goes (`-v`, the run's log, `bench boot`).
    pub timeline: Arc<Timeline>,
}

/// One QEMU's machine and the sockets it connects to, in their own directory.
pub struct Launch {
    pub machine: Machine,
    pub sockets: Sockets,
    pub control: UnixListener,
    pub dir: PathBuf,
}

/// The machine of a cold run of `request`, plus the warm run's control port
/// and kernel flags, with sockets in `session/qemu-N/`.
pub fn prepare(cx: &Warm, launches: &mut u32) -> Result<Launch> {
    *launches += 1;
    let dir = cx.session.dir().join(format!("qemu-{launches}"));
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let sockets = Sockets::bind(&dir, true)?;
    let (port, control) = control::bind(&dir)?;
    let options = cx
        .session
        .machine_options(cx.request, &cx.qemu.path, &sockets)?;
    let mut machine = machine::plan(&cx.image.manifest, &cx.image.dir, &options)?;
    machine.ports.push(port);
    machine.cmdline.push_str(" acalsim.warm");
    if !cx.warmup.is_empty() {
        machine
            .cmdline
            .push_str(&format!(" acalsim.warmup={}", cx.warmup.join(",")));
    }
    Ok(Launch {
        machine,
        sockets,
        control,
        dir,
    })
}

/// What one QEMU of a warm run gets besides its machine.
pub struct Supervised {
    pub handshake: Handshake,
    pub expect_status: bool,
    pub stdout_sink: Option<StdoutSink>,
    pub watch: Option<Watch>,
    /// The boot log's name in the run's folder.
    pub log_name: &'static str,
    /// When QEMU is killed.
    pub limits: Limits,
    /// See [`Streams::stop_at_status`].
    pub stop_at_status: bool,
    /// Whether the run's timeline marks when the status came and QEMU stopped.
    pub timed: bool,
}

/// Starts QEMU for `machine` and supervises it as a headless cold run is;
/// returns how that ended and the boot log.
pub fn launch(
    cx: &Warm,
    machine: &Machine,
    sockets: Sockets,
    s: Supervised,
) -> Result<(Headless, PathBuf)> {
    let (q, args) = (&machine.qemu, argv::argv(machine));
    let qemu = cmd!(cx.project.sh, "{q} {args...}");
    let shown = qemu.to_string();
    let folder = cx.request.folder.as_deref().context("the run's folder")?;
    let (log_path, log) = report::start_boot_log(
        folder,
        s.log_name,
        cx.request,
        &cx.image.name,
        cx.qemu,
        &shown,
    )?;
    if cx.project.verbose {
        eprintln!("$ {shown}");
    }
    let mut command: Command = qemu.into();
    command.current_dir(&cx.project.root);
    let streams = Streams {
        sockets,
        log,
        show_console: cx.request.show_console,
        stdout_sink: s.stdout_sink,
        watch: s.watch,
        handshake: Some(s.handshake),
        expect_status: s.expect_status,
        stop_at_status: s.stop_at_status,
        timeline: s.timed.then(|| Arc::clone(&cx.timeline)),
    };
    let ended = supervise::headless(command, streams, s.limits, &cx.signals, &cx.session.job_dir)?;
    Ok((ended, log_path))
}
