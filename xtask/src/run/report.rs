//! How a run is recorded and ends: the boot log opened with QEMU's command
//! line, and the [`Outcome`] turned into this process's exit status (saying
//! on stderr how the run was stopped, and why a job reported nothing).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};

use super::explain;
use super::folder;
use super::preflight::ChosenQemu;
use super::request::Request;
use super::summary::{self, End, QemuUsed, Record};
use super::supervise::{Headless, Outcome, COMPANION_GRACE};

/// How a run ended, for callers that keep a record of it (a sweep's points).
#[derive(Debug, Clone)]
pub struct Finished {
    /// The exit status for this process: the guest command's, for a job.
    pub status: i32,
    /// A warm run's restore: QEMU loading the saved state, in seconds.
    pub restore_secs: Option<f64>,
    /// How it ended, as the record says it (`End::how`).
    pub how: String,
    /// QEMU's start to the command's (the boot or the restore).
    pub start: Option<Duration>,
    /// The command's start to its end.
    pub job: Option<Duration>,
}

/// Exit status when `--timeout` expires (as coreutils' `timeout`).
pub const EXIT_TIMEOUT: i32 = 124;
/// [`Finished::how`] of a run stopped by `--boot-timeout` (exit status
/// [`EXIT_TIMEOUT`], as for `--timeout`).
pub const BOOT_TIMEOUT: &str = "boot timeout";

/// Opens the boot log `name` in the run's folder `dir` with the QEMU
/// command line, and writes the run's record as it starts.
pub fn start_boot_log(
    dir: &Path,
    name: &str,
    request: &Request,
    image: &str,
    qemu: &ChosenQemu,
    shown: &str,
) -> Result<(PathBuf, File)> {
    let path = dir.join(name);
    let mut log = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    writeln!(log, "# qemu: {}\n$ {shown}\n", qemu.description)
        .with_context(|| format!("writing {}", path.display()))?;
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let record = Record {
        folder: dir.to_path_buf(),
        image: image.to_string(),
        command: request.command.clone(),
        warm: request.warm,
        started_at: folder::stamp(started_at),
        qemu: QemuUsed {
            path: qemu.path.clone(),
            version: qemu.version.clone(),
            sha256: qemu.sha256.clone(),
        },
        qemu_command: shown.to_string(),
        end: None,
        sst: None,
    };
    summary::write(dir, &record)?;
    Ok((path, log))
}

/// How `run` ended, from how QEMU's supervision ended: the process's exit
/// status, saying on stderr how the run was stopped; a job that reported
/// nothing is an error explaining why.
pub fn finished(request: &Request, ended: Headless, log: &Path) -> Result<Finished> {
    let (status, how) = exit_status(request, ended.outcome, log)?;
    Ok(Finished {
        status,
        restore_secs: None,
        how,
        start: ended.boot,
        job: ended.job,
    })
}

/// The exit status and `End::how` for `outcome`.
fn exit_status(request: &Request, outcome: Outcome, log: &Path) -> Result<(i32, String)> {
    let say = !request.quiet;
    match outcome {
        Outcome::Exited(code) => Ok((code, "exited".into())),
        Outcome::Interrupted(signal) => {
            if say {
                eprintln!(
                    "interrupted: QEMU was stopped (boot log: {})",
                    log.display()
                );
            }
            Ok((128 + signal, format!("interrupted by signal {signal}")))
        }
        Outcome::TimedOut => {
            if say {
                eprintln!(
                    "error: the command ran for {} s, its --timeout (counted from its start in the \
                     guest); QEMU was killed.\nBoot log: {}",
                    request.timeout.map_or(0, |t| t.as_secs()),
                    log.display()
                );
            }
            Ok((EXIT_TIMEOUT, "timeout".into()))
        }
        Outcome::BootTimedOut => {
            if say {
                eprintln!(
                    "error: the guest did not start the command within {} s of QEMU's start \
                     (--boot-timeout): the boot hung or is slower than that; QEMU was killed.\n\
                     Boot log: {}",
                    request.boot_timeout.map_or(0, |t| t.as_secs()),
                    log.display()
                );
            }
            Ok((EXIT_TIMEOUT, BOOT_TIMEOUT.into()))
        }
        Outcome::CompanionEnded(why) => {
            eprintln!(
                "stopped: QEMU was stopped {}s after {why} (boot log: {})",
                COMPANION_GRACE.as_secs(),
                log.display()
            );
            Ok((1, "SST side ended".into()))
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

/// Completes the record in `dir` with how the run ended (`ended`: its
/// result) after `total`, and marks the folder's run as over.
pub fn end_record(
    dir: &Path,
    warm: bool,
    ended: &Result<Finished>,
    total: Duration,
) -> Result<Record> {
    let mut record = summary::read(dir)?;
    let (status, how, start, job) = match ended {
        Ok(f) => (f.status, f.how.clone(), f.start, f.job),
        Err(e) => (1, format!("error: {e:#}"), None, None),
    };
    record.end = Some(End {
        status,
        how,
        total_secs: total.as_secs_f64(),
        start_kind: if warm { "restore" } else { "boot" }.into(),
        start_secs: start.map(|d| d.as_secs_f64()),
        job_secs: job.map(|d| d.as_secs_f64()),
    });
    summary::write(dir, &record)?;
    Ok(record)
}
