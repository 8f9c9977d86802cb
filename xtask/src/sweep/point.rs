//! One point: its templates filled, a whole session run as a library call
//! (`cosim::session`, or `run` without an SST side) with its logs in a
//! directory of its own, and its record. The directory is written under a
//! temporary name and renamed to `points/ID` only once it is complete.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use super::plan::{self, FilledSst, Point};
use super::provenance::Provenance;
use super::record::{self, Record};
use super::spec::Spec;
use crate::cosim::{self, Settings};
use crate::project::Project;
use crate::run::{self, Request};

/// What every point of one sweep shares.
pub struct Shared<'a> {
    pub spec: &'a Spec,
    pub image: String,
    pub provenance: Provenance,
    /// The results directory; points go in `points/`.
    pub out: PathBuf,
    /// The SST side's working directory and how long it may take to listen.
    pub sst_dir: PathBuf,
    pub listen_timeout: Duration,
}

/// What to do with a point a signal stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OnSignal {
    /// Leave it missing (Ctrl-C on a local sweep: the next run does it).
    Discard,
    /// Record it as failed (a Slurm task cancelled with `scancel`).
    Record,
}

pub enum Ran {
    Recorded(Box<Record>),
    /// Stopped by a signal and discarded.
    Interrupted,
}

pub fn points_dir(out: &Path) -> PathBuf {
    out.join("points")
}

/// Runs `point` and installs its directory; `caught` says whether a
/// signal stopped the sweep meanwhile.
pub fn run(
    project: &Project,
    shared: &Shared,
    point: &Point,
    on_signal: OnSignal,
    caught: &dyn Fn() -> Option<i32>,
) -> Result<Ran> {
    let filled = plan::fill(shared.spec, point)?;
    let points = points_dir(&shared.out);
    std::fs::create_dir_all(&points).with_context(|| format!("creating {}", points.display()))?;
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{}.partial-", point.id))
        .tempdir_in(&points)
        .with_context(|| {
            format!(
                "creating a directory for point {} in {}",
                point.id,
                points.display()
            )
        })?;
    let dir = partial.path();

    let started_at = crate::output::utc_now(&project.sh);
    let started = Instant::now();
    let request = request(shared, &filled, dir);
    let sink = stdout_file(dir)?;
    let ended = match &filled.sst {
        FilledSst::None => {
            run::run_finished(project, &request, Some(sink), None).map(|r| r.finished)
        }
        sst => cosim::session(project, &settings(shared, sst), &request, Some(sink)).map(finished),
    };
    let wall_secs = started.elapsed().as_secs_f64();
    let signal = caught();
    if let (Some(_), OnSignal::Discard) = (signal, on_signal) {
        return Ok(Ran::Interrupted);
    }

    let ended = Ended {
        result: ended,
        signal,
        started_at,
        wall_secs,
    };
    let record = record_of(shared, point, filled, ended, dir);
    record::write(dir, &record)?;
    install(partial, &points.join(&point.id))?;
    Ok(Ran::Recorded(Box::new(record)))
}

/// How a point's session went, as the record needs it.
struct Ended {
    result: Result<run::Finished>,
    /// The signal that stopped the point (a Slurm task's `scancel`).
    signal: Option<i32>,
    started_at: String,
    wall_secs: f64,
}

/// The point's record: how its session ended, its metrics (read from
/// `output.txt` when it ended ok) and the sweep's provenance.
fn record_of(
    shared: &Shared,
    point: &Point,
    filled: plan::Filled,
    ended: Ended,
    dir: &Path,
) -> Record {
    let stdout = std::fs::read_to_string(dir.join(record::OUTPUT)).unwrap_or_default();
    let (status, restore_secs, mut result) = match (&ended.result, ended.signal) {
        // However the session ended, the signal is why.
        (r, Some(signal)) => (
            128 + signal,
            r.as_ref().ok().and_then(|f| f.restore_secs),
            format!("stopped by signal {signal}"),
        ),
        (Ok(f), None) => (
            f.status,
            f.restore_secs,
            describe_status(f.status, &f.how, shared.spec.timeout),
        ),
        (Err(e), None) => (1, None, format!("error: {e:#}")),
    };
    let mut metrics = Default::default();
    if result == "ok" {
        match record::metrics(&stdout, &shared.spec.metrics) {
            Ok(m) => metrics = m,
            Err(why) => result = format!("no metrics: {why}"),
        }
    }
    Record {
        schema: record::SCHEMA,
        sweep: shared.spec.name.clone(),
        file: shared.spec.file.display().to_string(),
        id: point.id.clone(),
        params: point
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.json()))
            .collect(),
        repeat: point.repeat,
        image: shared.image.clone(),
        warm: shared.spec.warm,
        argv: filled.argv,
        env: filled.env,
        sst: sst_record(&filled.sst),
        status,
        result,
        started: ended.started_at,
        wall_secs: (ended.wall_secs * 1000.0).round() / 1000.0,
        restore_secs: restore_secs.map(|s| (s * 1000.0).round() / 1000.0),
        metrics,
        provenance: shared.provenance.clone(),
        host: hostname(),
        slurm_job: slurm_job(),
        logs: logs(dir),
    }
}

/// The guest's request: the point's command on the sweep's image, quiet,
/// its boot log in the point's directory.
fn request(shared: &Shared, filled: &plan::Filled, dir: &Path) -> Request {
    Request {
        image: Some(shared.image.clone()),
        command: filled.argv.clone(),
        envs: filled.env.clone(),
        timeout: Some(shared.spec.timeout),
        warm: shared.spec.warm,
        folder: Some(dir.to_path_buf()),
        quiet: true,
        ..Request::default()
    }
}

fn settings(shared: &Shared, sst: &FilledSst) -> Settings {
    let (command, cycles_per_unit) = match sst {
        FilledSst::Peer { cycles_per_unit } => (None, *cycles_per_unit),
        FilledSst::Command { command } => (
            Some(command.clone()),
            crate::sst::protocol::COMPONENT_CYCLES_PER_UNIT,
        ),
        FilledSst::None => (None, crate::sst::protocol::COMPONENT_CYCLES_PER_UNIT),
    };
    Settings {
        sst: command,
        sst_dir: shared.sst_dir.clone(),
        socket: None,
        listen_timeout: shared.listen_timeout,
        cycles_per_unit,
    }
}

/// The SST side as the record names it: the peer's options, or the
/// command as filled in (the session's socket stays `{socket}`).
fn sst_record(sst: &FilledSst) -> Option<String> {
    match sst {
        FilledSst::Peer { cycles_per_unit } => Some(format!(
            "cargo xtask sst peer --cycles-per-unit {cycles_per_unit} (log: {})",
            run::folder::PEER_LOG
        )),
        FilledSst::Command { command } => Some(command.clone()),
        FilledSst::None => None,
    }
}

fn finished(e: cosim::Ended) -> run::Finished {
    match e.guest {
        Some(f) => f,
        None => run::Finished {
            status: e.status,
            restore_secs: None,
            how: "interrupted before the guest booted".into(),
            start: None,
            job: None,
        },
    }
}

/// The guest command's stdout, into `output.txt` as it comes.
fn stdout_file(dir: &Path) -> Result<run::StdoutSink> {
    let path = dir.join(record::OUTPUT);
    let mut file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok(Box::new(move |bytes: &[u8]| {
        // A full disk shows as missing output and metrics in the record.
        let _ = file.write_all(bytes);
    }))
}

/// "ok" or what the status means.
/// The record's `result`: `how` (the run's own word for its end) tells
/// the command's timeout from the boot's, which share one status.
fn describe_status(status: i32, how: &str, timeout: Duration) -> String {
    match status {
        0 => "ok".into(),
        run::EXIT_TIMEOUT if how == run::BOOT_TIMEOUT => format!(
            "the boot timed out: the command did not start within {} s",
            crate::run::defaults::BOOT_TIMEOUT_SECS
        ),
        run::EXIT_TIMEOUT => format!("timed out after {} s", timeout.as_secs()),
        s if s > 128 => format!("stopped by signal {}", s - 128),
        s => format!("exit {s}"),
    }
}

fn logs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Puts the complete point in place, replacing an earlier (failed) one.
fn install(partial: tempfile::TempDir, dest: &Path) -> Result<()> {
    let old = dest.with_file_name(format!(
        ".{}.old-{}",
        dest.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let had_old = dest.exists();
    if had_old {
        std::fs::rename(dest, &old).with_context(|| format!("moving {} aside", dest.display()))?;
    }
    let path = partial.keep();
    std::fs::rename(&path, dest)
        .with_context(|| format!("renaming {} to {}", path.display(), dest.display()))?;
    if had_old {
        std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// `JOBID_TASK` of the Slurm array task running this point, if any.
fn slurm_job() -> Option<String> {
    let job = std::env::var("SLURM_ARRAY_JOB_ID").ok()?;
    let task = std::env::var("SLURM_ARRAY_TASK_ID").ok()?;
    Some(format!("{job}_{task}"))
}
