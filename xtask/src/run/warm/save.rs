//! The first warm run of a key: boot cold, wait for the guest to say it is
//! ready (warm-up modules imported, shares unmounted), stop the VM and save
//! it with `mapped-ram` into `KEY.partial/`, then checksum and rename it.
//!
//! The disk is an overlay (`disk.qcow2`) on the unchanged image, written by
//! this boot alone and kept with the state: a restore must find the disk
//! exactly as the guest's page cache left it. Ctrl-C or a timeout stops
//! QEMU and drops the partial directory.

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde_json::json;
use xshell::cmd;

use super::control::{self, Ready};
use super::launch::{launch, Launch, Supervised, Warm};
use crate::progress::human_bytes;
use crate::run::folder;
use crate::run::machine::Machine;
use crate::run::report::{self, Finished};
use crate::run::supervise::{Handshake, Headless, Limits, Outcome};
use crate::snapshot::qmp::Qmp;
use crate::snapshot::store::{self, FileSum, Record, Store};

/// What the save's handshake measured.
struct Saved {
    ready: Ready,
    boot_secs: f64,
    save_secs: f64,
}

/// Saves the snapshot for `key`; `Some(how)` when the run must end
/// instead (interrupted, timed out).
pub fn run(
    cx: &Warm,
    l: Launch,
    store: &Store,
    key: &str,
    input: &str,
) -> Result<Option<Finished>> {
    let partial = store.start(key)?;
    let mut machine = l.machine;
    let root_disk = machine.disk.as_ref().map(|d| d.path.clone());
    let mut files = vec![store::STATE];
    if let Some(disk) = &mut machine.disk {
        let overlay = partial.dir().join(store::DISK);
        create_overlay(cx, &disk.path, &disk.format, &overlay)?;
        (disk.path, disk.format, disk.snapshot) = (overlay, "qcow2".into(), false);
        files.push(store::DISK);
    }
    let qmp_path = l.dir.join("qmp.sock");
    machine.qmp = Some(qmp_path.clone());
    let _sst_stand_in = stand_in_for_the_sst_side(&mut machine, &l.dir)?;
    let modules = if cx.warmup.is_empty() {
        "nothing".into()
    } else {
        cx.warmup.join(", ")
    };
    eprintln!(
        "warm: no snapshot of `{}` for this machine yet ({}): booting it, importing {modules}, saving it once",
        cx.image.name,
        store::short(key)
    );
    let saved = Arc::new(Mutex::new(None));
    let state = partial.dir().join(store::STATE);
    let handshake = save_handshake(l.control, qmp_path, state, Arc::clone(&saved));
    let supervised = Supervised {
        handshake,
        expect_status: false,
        stdout_sink: None,
        watch: None,
        log_name: folder::WARMUP_LOG,
        limits: Limits {
            boot: save_timeout(cx.request.boot_timeout),
            job: None,
        },
        stop_at_status: false,
        timed: false,
    };
    let (ended, log) = launch(cx, &machine, l.sockets, supervised)?;
    let measured = saved.lock().ok().and_then(|mut s| s.take());
    let saved = match save_outcome(cx, ended.outcome, measured, &log)? {
        Ok(saved) => saved,
        Err(finished) => return Ok(Some(finished)),
    };
    let record = record(cx, key, input, &machine, &saved, &files, root_disk);
    let dir = partial.commit(record)?;
    eprintln!(
        "warm: saved in {:.1}s after a {:.1}s boot ({:.1}s of it importing {modules}); {} on disk in {}",
        saved.save_secs,
        saved.boot_secs,
        saved.ready.import_secs,
        human_bytes(store::allocated(&dir)),
        dir.display()
    );
    say_stale(cx, store, &dir);
    Ok(None)
}

/// What the saving QEMU's end means: the snapshot saved, or how the run
/// ends instead (`Err`), or an error.
fn save_outcome(
    cx: &Warm,
    outcome: Outcome,
    measured: Option<Saved>,
    log: &Path,
) -> Result<std::result::Result<Saved, Finished>> {
    match (outcome, measured) {
        (Outcome::Exited(0), Some(saved)) => Ok(Ok(saved)),
        (Outcome::Exited(code), _) => bail!(
            "QEMU exited with status {code} before the snapshot was saved (boot log: {})",
            log.display()
        ),
        (Outcome::BootTimedOut, _) => {
            eprintln!(
                "error: the warm-up boot was not ready and saved within {} s (--boot-timeout, \
                 at least {} s for a save); QEMU was killed and nothing was saved.\nBoot log: {}",
                save_timeout(cx.request.boot_timeout).map_or(0, |t| t.as_secs()),
                SAVE_AT_LEAST.as_secs(),
                log.display()
            );
            Ok(Err(unsaved(report::EXIT_TIMEOUT, report::BOOT_TIMEOUT)))
        }
        (outcome, _) => {
            let headless = Headless {
                outcome,
                boot: None,
                job: None,
            };
            report::finished(cx.request, headless, log).map(Err)
        }
    }
}

/// Says how many older snapshots of the image can no longer be restored.
fn say_stale(cx: &Warm, store: &Store, dir: &Path) {
    let (stale, bytes) = crate::snapshot::stale_of(store, &cx.image.name, dir);
    if stale > 0 {
        eprintln!(
            "warm: {stale} older snapshot(s) of `{}` can no longer be restored ({}); `cargo xtask snapshots --prune` removes them",
            cx.image.name,
            human_bytes(bytes)
        );
    }
}

/// A run that ended during the save: no restore happened.
fn unsaved(status: i32, how: &str) -> Finished {
    Finished {
        status,
        restore_secs: None,
        how: how.into(),
        start: None,
        job: None,
    }
}

/// The saving QEMU's `virtio-sst-device` connects to a socket of this
/// run's own, which accepts and never answers: the guest sends nothing
/// before the save (its driver is unloaded first), and the SST side, e.g.
/// ACALSim's component, which takes exactly one client, is left to the
/// restored guest. The socket path is not migrated.
fn stand_in_for_the_sst_side(machine: &mut Machine, dir: &Path) -> Result<Option<UnixListener>> {
    let Some(socket) = &mut machine.sst_socket else {
        return Ok(None);
    };
    let path = dir.join("sst-stand-in.sock");
    let listener =
        UnixListener::bind(&path).with_context(|| format!("listening on {}", path.display()))?;
    *socket = path;
    Ok(Some(listener))
}

/// The save's limit: the run's `--boot-timeout`, but at least
/// [`SAVE_AT_LEAST`]. The warm-up is paid once per snapshot, like an image
/// build, and `import torch` alone can take a minute under TCG, so a
/// limit meant for a boot would otherwise keep any snapshot from ever
/// being saved. The job's own timeout counts from its start after the restore.
fn save_timeout(job: Option<Duration>) -> Option<Duration> {
    job.map(|t| t.max(SAVE_AT_LEAST))
}

const SAVE_AT_LEAST: Duration = Duration::from_secs(20 * 60);

/// Waits for the guest's `ready`, then saves the VM into `state`.
fn save_handshake(
    listener: UnixListener,
    qmp_path: PathBuf,
    state: PathBuf,
    saved: Arc<Mutex<Option<Saved>>>,
) -> Handshake {
    Box::new(move |qemu_done: Arc<AtomicBool>| {
        let started = Instant::now();
        let stream = control::accept(&listener, &qemu_done)?;
        let ready = control::wait_ready(&stream)?;
        let boot_secs = started.elapsed().as_secs_f64();
        eprintln!("warm: the guest is ready after {boot_secs:.1}s; saving it");
        let save_secs = save_state(&qmp_path, &state, &qemu_done)?;
        let mut slot = saved
            .lock()
            .map_err(|_| anyhow::anyhow!("a poisoned lock"))?;
        *slot = Some(Saved {
            ready,
            boot_secs,
            save_secs,
        });
        Ok(())
    })
}

/// The record of the snapshot; `commit` fills in the files' checksums.
fn record(
    cx: &Warm,
    key: &str,
    input: &str,
    machine: &Machine,
    saved: &Saved,
    files: &[&str],
    root_disk: Option<PathBuf>,
) -> Record {
    Record {
        key: key.to_string(),
        image: cx.image.name.clone(),
        created: crate::output::utc_now(&cx.project.sh),
        qemu: cx.qemu.description.clone(),
        smp: machine.smp,
        memory_mib: machine.memory_mib,
        warmup: saved.ready.modules.clone(),
        boot_secs: saved.boot_secs,
        import_secs: saved.ready.import_secs,
        save_secs: saved.save_secs,
        files: files
            .iter()
            .map(|f| FileSum {
                name: f.to_string(),
                size: 0,
                checksum: String::new(),
            })
            .collect(),
        key_input: input.to_string(),
        seen: Some(seen(cx, root_disk)),
    }
}

/// The image this snapshot is of, as `snapshots` checks it later:
/// `root_disk` is the disk the cold boot's plan named (the overlay's
/// backing file).
fn seen(cx: &Warm, root_disk: Option<PathBuf>) -> store::Seen {
    store::Seen {
        image_dir: cx.image.dir.clone(),
        image_key: cx.image.manifest.config_hash.clone(),
        root_stamp: root_disk
            .as_ref()
            .and_then(|d| store::root_stamp(d).ok())
            .unwrap_or_default(),
        root_disk,
    }
}

/// `qemu-img create`: a qcow2 overlay whose backing file is the image's disk.
fn create_overlay(cx: &Warm, base: &Path, format: &str, overlay: &Path) -> Result<()> {
    let sh = &cx.project.sh;
    cmd!(
        sh,
        "qemu-img create -q -f qcow2 -F {format} -b {base} {overlay}"
    )
    .quiet()
    .run()
    .with_context(|| {
        format!(
            "creating the snapshot's disk overlay {} (qemu-img: `cargo xtask doctor --fix`)",
            overlay.display()
        )
    })
}

/// Stops the VM and migrates it into `state`; returns the seconds it took.
/// QEMU quits afterwards, which ends the boot.
fn save_state(
    qmp_path: &Path,
    state: &Path,
    qemu_done: &std::sync::atomic::AtomicBool,
) -> Result<f64> {
    let mut qmp = Qmp::connect(qmp_path, Duration::from_secs(10))?;
    let started = Instant::now();
    qmp.execute("stop", json!({}))?;
    qmp.use_mapped_ram()?;
    qmp.execute(
        "migrate",
        json!({"uri": format!("file:{}", state.display())}),
    )?;
    qmp.wait_while_qemu_runs(qemu_done, "saving the snapshot")?;
    let secs = started.elapsed().as_secs_f64();
    // QEMU may close the monitor before it answers.
    let _ = qmp.execute("quit", json!({}));
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_save_gets_the_jobs_timeout_but_at_least_twenty_minutes() {
        assert_eq!(save_timeout(None), None);
        assert_eq!(
            save_timeout(Some(Duration::from_secs(30))),
            Some(SAVE_AT_LEAST)
        );
        let long = Duration::from_secs(7200);
        assert_eq!(save_timeout(Some(long)), Some(long));
    }
}
