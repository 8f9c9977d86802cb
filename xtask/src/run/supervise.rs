//! QEMU as our child: spawned so it dies with us (parent-death signal), waited
//! on until it exits, a signal arrives or the deadline passes, and stopped in
//! order. For a headless job, the guest's streams are forwarded from their
//! sockets while QEMU runs, and the job's status file becomes the [`Outcome`].

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

pub use super::forward::StdoutSink;
use super::forward::{collect_stderr, forward_console, forward_ports, Tail};
use super::phases::{Timeline, JOB_AND_STATUS};
use super::session::Sockets;
pub use super::signals::Signals;

/// A process the run depends on (the SST side of a co-simulation), polled
/// while QEMU runs: `Some(why)` once it has ended. The guest then gets
/// [`COMPANION_GRACE`] to finish on its own before QEMU is stopped.
pub type Watch = Box<dyn FnMut() -> Option<String> + Send>;

/// Work beside QEMU on its own thread (a warm run's save or restore), told
/// when QEMU has exited; its error stops QEMU ([`Outcome::HandshakeFailed`]).
pub type Handshake = Box<dyn FnOnce(Arc<AtomicBool>) -> Result<()> + Send>;

/// Long enough for a guest job to notice (its requests fail) and exit with
/// its own status; short enough that a dead session does not linger.
pub const COMPANION_GRACE: Duration = Duration::from_secs(10);

/// How a run ended.
pub enum Outcome {
    /// The guest command's exit status (a job), or QEMU's (interactive).
    Exited(i32),
    /// Stopped on this signal.
    Interrupted(i32),
    /// Stopped when the command had run for its `--timeout`.
    TimedOut,
    /// Stopped when the guest had not started the command within
    /// `--boot-timeout` of QEMU's start.
    BootTimedOut,
    /// Stopped [`COMPANION_GRACE`] after the watched process ended, for this reason.
    CompanionEnded(String),
    /// The [`Handshake`] failed, for this reason (QEMU was stopped).
    HandshakeFailed(String),
    /// QEMU ended before the job wrote its status: what we saw, to explain why.
    NoStatus {
        qemu: String,
        console_tail: String,
        qemu_stderr: String,
    },
}

/// Makes `command`'s process get SIGTERM from the kernel when this process
/// dies, even by SIGKILL (the parent-death signal); `what` names it in the
/// error if we were gone before it started.
pub fn die_with_us(command: &mut Command, what: &'static str) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: prctl and getppid are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::other(format!(
                    "cargo xtask exited before {what} started"
                )));
            }
            Ok(())
        });
    }
}

/// QEMU as our child: if this process dies, even by SIGKILL, the kernel
/// sends QEMU SIGTERM, which it handles by exiting cleanly.
fn spawn(mut command: Command, own_group: bool) -> Result<Child> {
    if own_group {
        // Ctrl-C reaches us only; we stop QEMU in order.
        command.process_group(0);
    }
    die_with_us(&mut command, "QEMU");
    let program = command.get_program().to_string_lossy().into_owned();
    command.spawn().with_context(|| {
        format!("starting QEMU `{program}`: is it installed? (`cargo xtask doctor --fix`, or --qemu / ACALSIM_QEMU)")
    })
}

/// How long a headless run may take: the boot (or restore) until the
/// guest starts the command, and the command from there; `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    pub boot: Option<Duration>,
    pub job: Option<Duration>,
}

impl Limits {
    /// Why the run is stopped now, if it is past its limit: the command's
    /// once it has started (at `job_started`), else the boot's from `qemu_started`.
    pub fn expired(
        &self,
        now: Instant,
        qemu_started: Instant,
        job_started: Option<Instant>,
    ) -> Option<Outcome> {
        match job_started {
            Some(at) => self
                .job
                .is_some_and(|limit| now >= at + limit)
                .then_some(Outcome::TimedOut),
            None => self
                .boot
                .is_some_and(|limit| now >= qemu_started + limit)
                .then_some(Outcome::BootTimedOut),
        }
    }
}

/// Waits for QEMU, stopping it on a signal, past its [`Limits`], or once
/// the watched companion has been gone for [`COMPANION_GRACE`].
fn supervise(
    child: &mut Child,
    signals: &Signals,
    watch: &mut Option<Watch>,
    handshake: &mut Option<JoinHandle<Result<()>>>,
    ending: &mut Ending,
) -> Result<(ExitStatus, Option<Outcome>)> {
    let mut companion_gone: Option<(String, Instant)> = None;
    let mut status_seen = false;
    loop {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            ending.mark("QEMU stop");
            return Ok((status, None));
        }
        ending.note_job_start();
        if !status_seen && ending.status_is_in() {
            status_seen = true;
            ending.job_started.get_or_insert_with(Instant::now);
            ending.mark(JOB_AND_STATUS);
            if ending.stop_at_status {
                let status = stop_qemu(child)?;
                ending.mark("QEMU stop");
                return Ok((status, None));
            }
        }
        if handshake.as_ref().is_some_and(|h| h.is_finished()) {
            if let Some(why) = handshake_error(handshake.take()) {
                let status = stop_qemu(child)?;
                return Ok((status, Some(Outcome::HandshakeFailed(why))));
            }
        }
        if companion_gone.is_none() {
            if let Some(why) = watch.as_mut().and_then(|w| w()) {
                eprintln!(
                    "{why}; the guest has {}s to finish",
                    COMPANION_GRACE.as_secs()
                );
                companion_gone = Some((why, Instant::now() + COMPANION_GRACE));
            }
        }
        let stop = if let Some(signal) = signals.caught() {
            Some(Outcome::Interrupted(signal))
        } else if let Some(expired) =
            ending
                .limits
                .expired(Instant::now(), ending.qemu_started, ending.job_started)
        {
            Some(expired)
        } else {
            match &companion_gone {
                Some((why, at)) if Instant::now() >= *at => {
                    Some(Outcome::CompanionEnded(why.clone()))
                }
                _ => None,
            }
        };
        if let Some(outcome) = stop {
            let status = stop_qemu(child)?;
            return Ok((status, Some(outcome)));
        }
        // Each poll is a waitpid and a stat: cheap beside the time a
        // coarser one would add to the end of every run.
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How a headless run ends once the job's status is in, and where that is
/// timed; an interactive run has neither.
struct Ending {
    /// The job's status file.
    status_file: Option<std::path::PathBuf>,
    /// The file the guest (or a warm run's hand-over) makes as the command starts.
    started_file: Option<std::path::PathBuf>,
    /// Stop QEMU once the status is in (see [`Streams::stop_at_status`]).
    stop_at_status: bool,
    timeline: Option<Arc<Timeline>>,
    limits: Limits,
    qemu_started: Instant,
    /// When the command was seen to start.
    job_started: Option<Instant>,
}

impl Ending {
    fn new(limits: Limits) -> Ending {
        Ending {
            status_file: None,
            started_file: None,
            stop_at_status: false,
            timeline: None,
            limits,
            qemu_started: Instant::now(),
            job_started: None,
        }
    }

    fn status_is_in(&self) -> bool {
        self.status_file.as_ref().is_some_and(|f| f.exists())
    }

    fn note_job_start(&mut self) {
        if self.job_started.is_none() && self.started_file.as_ref().is_some_and(|f| f.exists()) {
            self.job_started = Some(Instant::now());
        }
    }

    fn mark(&self, what: &str) {
        if let Some(t) = &self.timeline {
            t.mark(what);
        }
    }
}

/// The handshake's error, waiting for it to end (it ends when QEMU has).
fn handshake_error(handshake: Option<JoinHandle<Result<()>>>) -> Option<String> {
    match handshake?.join() {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e:#}")),
        Err(_) => Some("the warm-run handshake panicked".into()),
    }
}

/// SIGTERM (QEMU exits at once and restores the terminal), SIGKILL if it has
/// not after five seconds.
fn stop_qemu(child: &mut Child) -> Result<ExitStatus> {
    // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    child.wait().context("waiting for QEMU after SIGKILL")
}

/// The console on this terminal until QEMU exits (Ctrl-A X) or a signal.
pub fn interactive(
    command: Command,
    signals: &Signals,
    mut watch: Option<Watch>,
) -> Result<Outcome> {
    let mut child = spawn(command, false)?;
    let mut ending = Ending::new(Limits::default());
    let (status, stopped) = supervise(&mut child, signals, &mut watch, &mut None, &mut ending)?;
    Ok(stopped.unwrap_or(Outcome::Exited(status.code().unwrap_or(1))))
}

/// Where a headless guest's output goes: the serial console to the boot log (and
/// to stderr with `--console`), the job's stdout port to the sink or our stdout.
pub struct Streams {
    pub sockets: Sockets,
    pub log: File,
    pub show_console: bool,
    pub stdout_sink: Option<StdoutSink>,
    /// A process the run depends on, see [`Watch`].
    pub watch: Option<Watch>,
    pub handshake: Option<Handshake>,
    /// The guest writes the job's status (else QEMU's own is the outcome:
    /// a warm run's save, which ends with QEMU quitting).
    pub expect_status: bool,
    /// Stop QEMU as soon as the job's status is in, rather than wait for
    /// the guest to sync and power off: for a run whose disk writes are
    /// thrown away. The job's output is in by then: a guest's write to a
    /// virtio-serial port returns only once QEMU has passed it on, and the
    /// status is written after the job's last write.
    pub stop_at_status: bool,
    /// Where the run is timed: when the status came, when QEMU stopped.
    pub timeline: Option<Arc<Timeline>>,
}

/// The file the guest's runner makes in the job directory as the command
/// starts (a warm run's host makes it at the hand-over): the boot's end.
pub const STARTED: &str = "started";

/// How a headless run ended, and when its command started and ended, from
/// QEMU's start.
pub struct Headless {
    pub outcome: Outcome,
    /// QEMU's start to the command's (the boot or the restore); `None`:
    /// the command never started.
    pub boot: Option<Duration>,
    /// The command's start to its status (or to when QEMU was stopped).
    pub job: Option<Duration>,
}

/// Runs QEMU without a terminal, forwarding the guest's streams, until it
/// exits or is stopped; the job's exit status comes from `job_dir/status`.
pub fn headless(
    mut command: Command,
    streams: Streams,
    limits: Limits,
    signals: &Signals,
    job_dir: &Path,
) -> Result<Headless> {
    let Streams {
        sockets,
        log,
        show_console,
        stdout_sink,
        mut watch,
        handshake,
        expect_status,
        stop_at_status,
        timeline,
    } = streams;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = spawn(command, true)?;
    let mut ending = Ending {
        status_file: expect_status.then(|| job_dir.join("status")),
        started_file: expect_status.then(|| job_dir.join(STARTED)),
        stop_at_status,
        timeline,
        ..Ending::new(limits)
    };
    let qemu_done = Arc::new(AtomicBool::new(false));
    let console_tail = Arc::new(Mutex::new(Tail::default()));
    let log = Arc::new(Mutex::new(log));

    let mut forwarders = vec![forward_console(
        sockets.console,
        &qemu_done,
        &console_tail,
        &log,
        show_console,
    )];
    forwarders.extend(forward_ports(sockets.ports, &qemu_done, stdout_sink));
    let qemu_stderr = collect_stderr(&mut child, &log)?;
    let mut handshake = handshake.map(|h| {
        let done = Arc::clone(&qemu_done);
        std::thread::spawn(move || h(done))
    });

    let supervised = supervise(&mut child, signals, &mut watch, &mut handshake, &mut ending);
    let ended = Instant::now();
    qemu_done.store(true, Ordering::SeqCst);
    for f in forwarders {
        let _ = f.join();
    }
    let qemu_stderr = qemu_stderr.join().unwrap_or_default();
    let handshake_failed = handshake_error(handshake.take());
    let (status, stopped) = supervised?;
    let console_tail = console_tail.lock().map(|t| t.text()).unwrap_or_default();
    let outcome = match (stopped, handshake_failed) {
        (Some(outcome), _) => outcome,
        (None, Some(why)) => Outcome::HandshakeFailed(format!(
            "{why} (QEMU: {}; its stderr: {})",
            describe(status),
            qemu_stderr.trim()
        )),
        (None, None) if !expect_status => Outcome::Exited(status.code().unwrap_or(1)),
        (None, None) => job_outcome(job_dir, status, console_tail, qemu_stderr)?,
    };
    Ok(Headless {
        outcome,
        boot: ending.job_started.map(|at| at - ending.qemu_started),
        job: ending.job_started.map(|at| ended - at),
    })
}

/// The status file the guest's runner writes after the command exits; its
/// absence means the guest never got that far.
fn job_outcome(
    job_dir: &Path,
    status: ExitStatus,
    console_tail: String,
    qemu_stderr: String,
) -> Result<Outcome> {
    let status_file = job_dir.join("status");
    match std::fs::read_to_string(&status_file) {
        Ok(text) => {
            // A warm run's guest adds its phases after the first line (phases.rs).
            let first = text.lines().next().unwrap_or_default().trim();
            let code = first.parse().with_context(|| {
                format!("{}: `{first}` is not an exit status", status_file.display())
            })?;
            Ok(Outcome::Exited(code))
        }
        Err(_) => Ok(Outcome::NoStatus {
            qemu: describe(status),
            console_tail,
            qemu_stderr,
        }),
    }
}

fn describe(status: ExitStatus) -> String {
    match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "unknown status".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_limit_counts_from_qemus_start_and_the_commands_from_its_own() {
        let limits = Limits {
            boot: Some(Duration::from_secs(60)),
            job: Some(Duration::from_secs(10)),
        };
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        assert!(limits.expired(at(59), t0, None).is_none());
        assert!(matches!(
            limits.expired(at(60), t0, None),
            Some(Outcome::BootTimedOut)
        ));
        // A command that started at 50 s may run until 60 s, however long the boot took.
        assert!(limits.expired(at(59), t0, Some(at(50))).is_none());
        assert!(matches!(
            limits.expired(at(60), t0, Some(at(50))),
            Some(Outcome::TimedOut)
        ));
        assert!(limits.expired(at(100), t0, Some(at(95))).is_none());
        assert!(Limits::default().expired(at(1_000_000), t0, None).is_none());
    }

    #[test]
    fn a_missing_status_file_means_no_status_and_a_bad_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let exited = |code| std::os::unix::process::ExitStatusExt::from_raw(code << 8);
        let outcome = job_outcome(dir.path(), exited(1), "tail".into(), String::new()).unwrap();
        assert!(
            matches!(&outcome, Outcome::NoStatus { qemu, .. } if qemu == "exit status 1"),
            "expected NoStatus"
        );
        std::fs::write(dir.path().join("status"), "3\n").unwrap();
        let outcome = job_outcome(dir.path(), exited(0), String::new(), String::new()).unwrap();
        assert!(matches!(outcome, Outcome::Exited(3)));
        std::fs::write(dir.path().join("status"), "4\nclock, entropy 0.07\n").unwrap();
        let outcome = job_outcome(dir.path(), exited(0), String::new(), String::new()).unwrap();
        assert!(matches!(outcome, Outcome::Exited(4)));
        std::fs::write(dir.path().join("status"), "4\nclock, entropy 0.07\n").unwrap();
        let outcome = job_outcome(dir.path(), exited(0), String::new(), String::new()).unwrap();
        assert!(matches!(outcome, Outcome::Exited(4)));
        std::fs::write(dir.path().join("status"), "three").unwrap();
        let e = job_outcome(dir.path(), exited(0), String::new(), String::new())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("`three` is not an exit status"), "{e}");
    }
}
