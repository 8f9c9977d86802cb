//! How a run is recorded and ends: the boot log opened with QEMU's command
//! line, and the [`Outcome`] turned into this process's exit status (saying
//! on stderr how the run was stopped, and why a job reported nothing).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use super::explain;
use super::request::Request;
use super::supervise::{Outcome, COMPANION_GRACE};
use crate::project::Project;

/// How a run ended, for callers that keep a record of it (a sweep's points).
#[derive(Debug, Clone)]
pub struct Finished {
    /// The exit status for this process: the guest command's, for a job.
    pub status: i32,
    /// A warm run's restore: QEMU loading the saved state, in seconds.
    pub restore_secs: Option<f64>,
}

/// Exit status when `--timeout` expires (as coreutils' `timeout`).
pub const EXIT_TIMEOUT: i32 = 124;

/// run-IMAGE.log in the request's log directory (target/xtask/logs/ unless
/// it names one), opened with the QEMU command line.
pub fn start_boot_log(
    project: &Project,
    request: &Request,
    image: &str,
    qemu: &str,
    shown: &str,
) -> Result<(PathBuf, File)> {
    let dir = request.logs.clone().unwrap_or_else(|| project.logs_dir());
    let path = dir.join(format!("run-{image}.log"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut log = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    writeln!(log, "# qemu: {qemu}\n$ {shown}\n")
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((path, log))
}

/// The process's exit status for `outcome`, saying on stderr how the run
/// was stopped; a job that reported nothing is an error explaining why.
pub fn exit_status(
    project: &Project,
    request: &Request,
    outcome: Outcome,
    elapsed: Duration,
    log: &Path,
) -> Result<i32> {
    let secs = elapsed.as_secs_f64();
    match outcome {
        Outcome::Exited(code) => {
            if project.verbose {
                eprintln!("guest finished in {secs:.1}s with exit status {code}");
            }
            Ok(code)
        }
        Outcome::Interrupted(signal) if request.quiet => Ok(128 + signal),
        Outcome::TimedOut if request.quiet => Ok(EXIT_TIMEOUT),
        Outcome::Interrupted(signal) => {
            eprintln!(
                "interrupted: QEMU stopped after {secs:.1}s (boot log: {})",
                log.display()
            );
            Ok(128 + signal)
        }
        Outcome::TimedOut => {
            eprintln!(
                "error: the command did not finish within {}s (--timeout); QEMU was killed. Boot log: {}",
                request.timeout.map_or(0, |t| t.as_secs()),
                log.display()
            );
            Ok(EXIT_TIMEOUT)
        }
        Outcome::CompanionEnded(why) => {
            eprintln!(
                "stopped: QEMU was stopped {}s after {why} (boot log: {})",
                COMPANION_GRACE.as_secs(),
                log.display()
            );
            Ok(1)
        }
        Outcome::HandshakeFailed(why) => Err(anyhow!("{why} (boot log: {})", log.display())),
        Outcome::NoStatus {
            qemu,
            console_tail,
            qemu_stderr,
        } => Err(anyhow!(explain::no_status(
            &qemu,
            &console_tail,
            &qemu_stderr,
            log
        ))),
    }
}
