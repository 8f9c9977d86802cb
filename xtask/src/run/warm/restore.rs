//! Every later warm run: a new QEMU with the cold run's devices, started
//! paused (`-incoming defer`) on a fresh overlay of the snapshot's disk,
//! loads the state file, continues, and hands the job to the waiting guest
//! over the control port. From there it is a headless run like any other:
//! the same streams, status file and timeout.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use super::control;
use super::launch::{launch, Launch, Supervised, Warm};
use crate::run::folder;
use crate::run::report::{self, Finished};
use crate::run::supervise::{Limits, Outcome, StdoutSink, Watch, STARTED};
use crate::snapshot::qmp::Qmp;
use crate::snapshot::store;

pub enum Restored {
    /// The job ran (or the run was stopped): how it ended, and the run's log.
    Ended(Finished, PathBuf),
    /// QEMU did not take the snapshot, for this reason; the job never started.
    Refused(String),
}

pub fn run(
    cx: &Warm,
    l: Launch,
    dir: &Path,
    stdout_sink: Option<StdoutSink>,
    watch: Option<Watch>,
) -> Result<Restored> {
    let mut machine = l.machine;
    if let Some(disk) = &mut machine.disk {
        // snapshot=on: this run's writes go to a temporary overlay QEMU
        // deletes, so the snapshot's disk stays as it was saved.
        (disk.path, disk.format, disk.snapshot) = (dir.join(store::DISK), "qcow2".into(), true);
    }
    let qmp_path = l.dir.join("qmp.sock");
    machine.qmp = Some(qmp_path.clone());
    machine.incoming = true;
    let state = dir.join(store::STATE);
    let (argv, env) = (cx.request.command.clone(), cx.request.envs.clone());
    let snapshot = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let listener = l.control;
    let restore_secs = Arc::new(Mutex::new(None));
    let measured = Arc::clone(&restore_secs);
    let quiet = cx.request.quiet;
    let timeline = Arc::clone(&cx.timeline);
    let started_file = cx.session.job_dir.join(STARTED);
    let handshake = Box::new(move |qemu_done: Arc<AtomicBool>| {
        let mut qmp = Qmp::connect(&qmp_path, Duration::from_secs(10))?;
        timeline.mark("QEMU start");
        let started = Instant::now();
        load_state(&mut qmp, &state, &qemu_done)?;
        timeline.mark("state load");
        let secs = started.elapsed().as_secs_f64();
        if let Ok(mut m) = measured.lock() {
            *m = Some(secs);
        }
        // One line, unless the caller keeps records: which snapshot this
        // run is, and the figure `bench` reads (`--warm` promises seconds).
        if !quiet {
            eprintln!("warm: restored snapshot {snapshot} in {secs:.2}s");
        }
        let stream = control::accept(&listener, &qemu_done)?;
        control::send_job(&stream, &argv, &env)?;
        // The command's `--timeout` counts from here, as from a cold
        // guest's start of it.
        std::fs::write(&started_file, "")
            .with_context(|| format!("writing {}", started_file.display()))?;
        timeline.mark("hand-over sent");
        Ok(())
    });
    let supervised = Supervised {
        handshake,
        expect_status: true,
        stdout_sink,
        watch,
        log_name: folder::BOOT_LOG,
        limits: Limits {
            boot: cx.request.boot_timeout,
            job: cx.request.timeout,
        },
        // The restore's writes go to a temporary overlay.
        stop_at_status: true,
        timed: true,
    };
    let (ended, log) = launch(cx, &machine, l.sockets, supervised)?;
    if let Outcome::HandshakeFailed(why) = ended.outcome {
        return Ok(Restored::Refused(why));
    }
    let mut finished = report::finished(cx.request, ended, &log)?;
    finished.restore_secs = restore_secs.lock().ok().and_then(|m| *m);
    Ok(Restored::Ended(finished, log))
}

/// `migrate-incoming` from the state file, then `cont`.
fn load_state(qmp: &mut Qmp, state: &Path, qemu_done: &AtomicBool) -> Result<()> {
    qmp.use_mapped_ram()?;
    qmp.execute(
        "migrate-incoming",
        json!({"uri": format!("file:{}", state.display())}),
    )?;
    qmp.wait_while_qemu_runs(qemu_done, "loading the snapshot")?;
    qmp.execute("cont", json!({}))?;
    Ok(())
}
